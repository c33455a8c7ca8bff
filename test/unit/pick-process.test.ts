import { describe, expect, it } from 'vitest';
import type { ProcessEntry } from '../../src/core/policy-schema.js';
import { resolveLogin, resolveRequest, type Loads, type RoundRobin } from '../../src/core/resolve.js';
import { pickProcess } from '../../src/core/resolve-shared.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * pickProcess skips processes the reconcile loop saw missing or down in
 * PM2 (`loads.unavailable`), unless every process of the pool is: then the
 * choice is no worse than without the knowledge.
 */

const pool: ProcessEntry[] = [0, 1, 2].map((i) => proc(`lobby@1.5.0#${i}`, 'active', 7500 + i));
const last = (p: ProcessEntry) => p.id.slice(-1);

/** Loads from `<index> → terminals`, and the indexes that are down. */
function loads(terminals: Record<string, number>, down: string | null): Loads {
  const base: Loads = { terminals: (id) => terminals[id.slice(-1)] };
  return down === null ? base : { ...base, unavailable: (id) => down.includes(id.slice(-1)) };
}

/** `n` picks with one cursor (none with null), as the indexes picked. */
function picks(n: number, l: Loads, from: readonly ProcessEntry[] = pool, cursor: RoundRobin | null = { next: 0 }): string {
  return Array.from({ length: n }, () => last(pickProcess(from, l, cursor ?? undefined))).join('');
}

describe('pickProcess and unavailable processes', () => {
  it.each<[string, Record<string, number>, string | null, string]>([
    ['without the hook: least loaded, even if it is down', { 0: 0, 1: 5, 2: 5 }, null, '0000'],
    ['the least loaded is down: the next least loaded', { 0: 0, 1: 5, 2: 3 }, '0', '2222'],
    ['ties round robin over the live ones only', {}, '0', '1212'],
    ['two down: always the one left', { 0: 0, 1: 0, 2: 9 }, '01', '2222'],
    ['none down: plain least loaded round robin', { 0: 1 }, '', '1212'],
    ['every one down: least loaded as if none were', { 0: 4, 1: 2, 2: 2 }, '012', '1212'],
    ['every one down, no heartbeats: plain round robin', {}, '012', '0120'],
  ])('%s', (_label, terminals, down, expected) => {
    expect(picks(4, loads(terminals, down))).toBe(expected);
  });

  it('without a cursor: the first live process of the least loaded', () => {
    expect(picks(3, loads({}, '0'), pool, null)).toBe('111');
  });

  it('a pool of one is returned even when it is down', () => {
    expect(picks(2, loads({}, '0'), pool.slice(0, 1))).toBe('00');
  });

  it('asks about each process at most a few times per pick (hot path)', () => {
    let calls = 0;
    const l: Loads = { terminals: () => 0, unavailable: (id) => (calls++, id.endsWith('#0')) };
    pickProcess(pool, l, { next: 0 });
    expect(calls).toBeLessThanOrEqual(3 * pool.length);
  });
});

describe('logins and requests avoid unavailable processes', () => {
  const policy = policyOf({ lobby: service('1.5.0', [...pool, proc('lobby@1.4.0#0', 'draining', 7510), proc('lobby@1.4.0#1', 'draining', 7511)]) });

  it('a login never lands on a process PM2 lost while another is live', () => {
    const l = loads({ 0: 0, 1: 7, 2: 7 }, '0');
    const cursor = { next: 0 };
    const ids = Array.from({ length: 6 }, () => {
      const r = resolveLogin(policy, 'lobby', '1.5.0', 't', l, cursor);
      if (!r.ok || !('processId' in r)) throw new Error(`expected a connect, got ${JSON.stringify(r)}`);
      return r.processId;
    });
    expect(ids).not.toContain('lobby@1.5.0#0');
    expect(new Set(ids)).toEqual(new Set(['lobby@1.5.0#1', 'lobby@1.5.0#2']));
  });

  it('a request to a draining version skips its lost process', () => {
    const l: Loads = { terminals: () => 0, unavailable: (id) => id === 'lobby@1.4.0#1' };
    const cursor = { next: 0 };
    const ids = Array.from({ length: 4 }, () => {
      const r = resolveRequest(policy, 'lobby', '1.4.0', l, cursor);
      if (!r.ok) throw new Error(`expected a route, got ${JSON.stringify(r)}`);
      return r.processId;
    });
    expect(ids).toEqual(['lobby@1.4.0#0', 'lobby@1.4.0#0', 'lobby@1.4.0#0', 'lobby@1.4.0#0']);
  });
});
