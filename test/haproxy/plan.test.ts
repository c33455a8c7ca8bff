import { describe, expect, it } from 'vitest';
import { checkPolicy, type Policy } from '../../src/core/policy-schema.js';
import { resolveRequest } from '../../src/core/resolve.js';
import { TallyBook } from '../../src/core/tally.js';
import { describePolicy, routeKeyFor } from '../../src/haproxy/desired.js';
import { describeDrift, DriftBook, finding } from '../../src/haproxy/drift.js';
import { SLOTS_PER_SERVICE, slotBackend } from '../../src/haproxy/layout.js';
import { emptyMaps, planChanges, type Observed, type ObservedServer } from '../../src/haproxy/plan.js';
import { buildStatus } from '../../src/router/status.js';
import { buildPolicy, type ProcessSpec } from '../helpers/router-process.js';

// The pure half of the HAProxy data plane: what a policy wants, and the runtime commands from what HAProxy holds.

function policy(processes: ProcessSpec[], extra: { match?: 'exact' | 'patch' | 'minor' } = {}): Policy {
  const checked = checkPolicy(buildPolicy({ lobby: { target: '1.5.0', processes, ...extra } }, 7));
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  return checked.policy;
}

function observed(servers: Partial<ObservedServer>[] = [], slot: Record<string, string> = {}): Observed {
  const maps = emptyMaps();
  for (const [b, v] of Object.entries(slot)) maps.slot.set(b, v);
  return {
    worker: 1,
    rules: undefined,
    backends: new Set(Array.from({ length: SLOTS_PER_SERVICE }, (_, i) => slotBackend('lobby', i))),
    servers: servers.map((s) => ({ backend: 'v_lobby_0', name: '127.0.0.1:7500', address: '127.0.0.1', port: 7500, admin: 'ready', sessions: 0, ...s })),
    maps,
  };
}

const texts = (p: ReturnType<typeof planChanges>) => p.commands.map((c) => c.text);
const mapPath = (name: string) => `/s/${name}.map`;

describe('planChanges', () => {
  it('asks for a reload when HAProxy has no slots for a service', () => {
    const plan = planChanges(describePolicy(policy([{ version: '1.5.0', port: 7500 }])), { ...observed(), backends: new Set() }, mapPath);
    expect(plan.reload).toBe('service lobby is new: HAProxy has no version slots for it');
  });

  it('binds a slot, adds and enables the server, then points the maps at it', () => {
    const plan = planChanges(describePolicy(policy([{ version: '1.5.0', port: 7500 }])), observed(), mapPath);
    expect(texts(plan)).toEqual([
      'add map /s/slot.map v_lobby_0 1.5.0',
      'add server v_lobby_0/127.0.0.1:7500 127.0.0.1:7500',
      'set server v_lobby_0/127.0.0.1:7500 state ready',
      'add map /s/route.map lobby|=1.5.0 v_lobby_0',
      // The only service: its exact versions are also keyed by the version alone (one lookup on the fast path).
      'add map /s/only.map 1.5.0 v_lobby_0',
      'add map /s/resolve.map v_lobby_0 {"service":"lobby","version":"1.5.0","address":"127.0.0.1","port":7500,"process":"lobby@1.5.0#0"}',
      expect.stringMatching(/^add map \/s\/nsvhead\.map lobby \{"error":"version_not_served","message":"Service\\ lobby\\ does\\ not/),
      expect.stringMatching(/^add map \/s\/nsvtail\.map lobby /),
      'add map /s/svc.map * lobby',
    ]);
    expect(plan.waiting).toBe(0);
  });

  it('sends nothing when HAProxy already holds the policy', () => {
    const desired = describePolicy(policy([{ version: '1.5.0', port: 7500 }]));
    const first = planChanges(desired, observed(), mapPath);
    const held = observed([{}], { v_lobby_0: '1.5.0' });
    for (const c of first.commands.filter((c) => c.text.startsWith('add map'))) {
      const [, , file, key, ...value] = c.text.split(/(?<!\\) /);
      const name = file!.slice(3, -4) as keyof Observed['maps'];
      if (name !== 'slot') held.maps[name].set(key!.replace(/\\(.)/g, '$1'), value.join(' ').replace(/\\(.)/g, '$1'));
    }
    expect(texts(planChanges(desired, held, mapPath))).toEqual([]);
  });

  it('drains a process beside an active one of its version, and keeps a lone draining version ready', () => {
    const mixed = planChanges(describePolicy(policy([{ version: '1.5.0', port: 7500, state: 'draining' }, { version: '1.5.0', port: 7501, index: 1 }])), observed([{}], { v_lobby_0: '1.5.0' }), mapPath);
    expect(texts(mixed)).toContain('set server v_lobby_0/127.0.0.1:7500 state drain');
    const alone = planChanges(describePolicy(policy([{ version: '1.5.0', port: 7500, state: 'draining' }])), observed([{}], { v_lobby_0: '1.5.0' }), mapPath);
    expect(texts(alone).filter((t) => t.includes('state'))).toEqual([]);
  });

  it('drains a process found down while another of its version lives, and resolves to the live one', () => {
    const p = policy([{ version: '1.5.0', port: 7500 }, { version: '1.5.0', port: 7501, index: 1 }]);
    const down = (id: string) => id === 'lobby@1.5.0#0';
    const version = describePolicy(p, down).services.get('lobby')!.versions.get('1.5.0')!;
    expect(version.servers.map((s) => [s.port, s.state])).toEqual([[7500, 'drain'], [7501, 'ready']]);
    expect(JSON.parse(version.resolve).port).toBe(7501);
    // All of them down: no choice is better than another, as in the router (core/resolve-shared.ts).
    const all = describePolicy(p, () => true).services.get('lobby')!.versions.get('1.5.0')!;
    expect(all.servers.map((s) => s.state)).toEqual(['ready', 'ready']);
  });

  it('marks clean-up as progress, so later passes never count it as drift', () => {
    const retired = policy([{ version: '1.4.0', port: 7500, state: 'retired' }]);
    expect(planChanges(describePolicy(retired), observed([{ admin: 'maint', sessions: 0 }], { v_lobby_0: '1.4.0' }), mapPath).commands.filter((c) => c.text.includes('server'))).toEqual([
      { text: 'del server v_lobby_0/127.0.0.1:7500', ok: 'Server deleted', progress: true },
    ]);
    expect(planChanges(describePolicy(retired), observed([], { v_lobby_0: '1.4.0' }), mapPath).commands.find((c) => c.text.includes('slot.map'))?.progress).toBe(true);
  });

  it.each([
    ['a retired server goes to maintenance first', { admin: 'ready' as const, sessions: 3 }, ['set server v_lobby_0/127.0.0.1:7500 state maint']],
    ['it waits while sessions remain', { admin: 'maint' as const, sessions: 3 }, []],
    ['it is deleted once they are gone', { admin: 'maint' as const, sessions: 0 }, ['del server v_lobby_0/127.0.0.1:7500']],
  ])('%s', (_what, server, expected) => {
    const plan = planChanges(describePolicy(policy([{ version: '1.4.0', port: 7500, state: 'retired' }])), observed([server], { v_lobby_0: '1.4.0' }), mapPath);
    expect(texts(plan).filter((t) => t.includes('server'))).toEqual(expected);
    // More passes follow: the server's deletion, then the slot's release.
    expect(plan.waiting).toBeGreaterThan(0);
  });

  it('frees the slot of a retired version once its last server is gone', () => {
    const plan = planChanges(describePolicy(policy([{ version: '1.4.0', port: 7500, state: 'retired' }])), observed([], { v_lobby_0: '1.4.0' }), mapPath);
    expect(texts(plan)).toContain('del map /s/slot.map v_lobby_0');
  });

  it('asks for a reload when every slot is taken', () => {
    const versions = Array.from({ length: SLOTS_PER_SERVICE + 1 }, (_, i) => ({ version: `1.${i}.0`, port: 7500 + i }));
    const plan = planChanges(describePolicy(policy(versions)), observed(), mapPath);
    expect(plan.reload).toBe(`service lobby needs more than its ${SLOTS_PER_SERVICE} version slots at once`);
  });
});

describe('describePolicy', () => {
  it('splits the router\'s own 404 body around the version', () => {
    const p = policy([{ version: '1.5.0', port: 7500 }, { version: '1.4.0', port: 7501, state: 'draining' }]);
    const { head, tail } = describePolicy(p).services.get('lobby')!.notServed;
    const router = resolveRequest(p, undefined, '1.9.0');
    expect(router.ok).toBe(false);
    if (router.ok) return;
    expect(JSON.parse(`${head}1.9.0${tail}`)).toEqual({ error: router.error, message: router.message, versions: router.versions });
  });

  it.each([
    ['exact', '1.5.3', '=1.5.3'],
    ['patch', '1.5.3', '~1.5-'],
    ['patch', '1.5.3-beta.2+b1', '~1.5-beta.2'],
    ['minor', '1.5.3', '~1-'],
  ] as const)('keys %s %s as %s', (match, version, key) => {
    expect(routeKeyFor(match, version)).toBe(key);
  });

  it('routes a patch key to the newest active version of that line', () => {
    const p = policy([{ version: '1.5.1', port: 7500 }, { version: '1.5.0', port: 7501, state: 'draining' }], { match: 'patch' });
    expect(describePolicy(p).services.get('lobby')!.routes.get('~1.5-')).toBe('1.5.1');
  });
});

describe('status', () => {
  it('says the built-in proxy is in step with the policy the router holds', () => {
    const p = policy([{ version: '1.5.0', port: 7500 }]);
    const body = buildStatus(p, { generation: 7, fileBroken: false, error: null, loadedAt: null }, new TallyBook({ intervalMs: 1000, staleAfter: 3 }), Date.now());
    expect(body.dataPlane).toEqual({ kind: 'builtin', generation: 7, ok: true, error: null });
  });
});

describe('drift', () => {
  it.each([
    ['add map /s/route.map lobby|=1.6.0 v_lobby_2', 'route.map lacked lobby|=1.6.0'],
    ['set map /s/only.map 1.6.0 v_lobby_2', 'only.map held another value for 1.6.0'],
    ['del map /s/route.map lobby|=9.9.9', 'route.map held lobby|=9.9.9, which the policy does not'],
    ['add server v_lobby_2/127.0.0.1:7502 127.0.0.1:7502', 'server v_lobby_2/127.0.0.1:7502 was missing'],
    ['set server v_lobby_0/127.0.0.1:7500 state drain', 'server v_lobby_0/127.0.0.1:7500 was not in state drain'],
    ['add map /s/nsvhead.map lobby {"error":"version_not_served",\\ "a"}', 'nsvhead.map lacked lobby'],
  ])('%s means %s', (text, words) => {
    expect(finding({ text })).toBe(words);
  });

  it('names the first three findings, ignores progress, and says how many more', () => {
    const commands = ['add map /s/route.map a x', 'add map /s/route.map b x', 'add map /s/route.map c x'].map((text) => ({ text }));
    expect(describeDrift([], [{ text: 'del server v_lobby_0/x', progress: true }])).toBeUndefined();
    expect(describeDrift(['HAProxy was reloaded outside switchyard (worker 1 → 2)'], commands)).toBe('HAProxy was reloaded outside switchyard (worker 1 → 2); route.map lacked a; route.map lacked b; and 1 more');
  });

  it('counts one episode until it is repaired', () => {
    const book = new DriftBook();
    expect(book.repairedNow(new Date(0))).toBe(false);
    book.foundNow('route.map lacked a', new Date(1000));
    book.foundNow('route.map lacked b', new Date(1500));
    expect(book.open).toBe(true);
    expect(book.repairedNow(new Date(2000))).toBe(true);
    expect(book.status()).toEqual({ found: 1, repaired: 1, last: { at: new Date(1000).toISOString(), what: 'route.map lacked a', repairedAt: new Date(2000).toISOString() } });
  });
});
