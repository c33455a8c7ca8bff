import { describe, expect, it } from 'vitest';
import { describeChange, diffPolicies, type PolicyChange } from '../../src/core/policy-diff.js';
import type { Policy } from '../../src/core/policy-schema.js';
import { claimStart, claimStop, drain, markActive, promote, retire, setCanary } from '../../src/core/policy-transitions.js';
import { OWNER, T1, fleet, policyOf, proc, service, started } from '../helpers/policy-builder.js';

const MIN30 = 30 * 60_000;
const np = { id: 'lobby@1.8.0#0', version: '1.8.0', host: 'local', address: '127.0.0.1', port: 7510 };

/** lobby without the entry `id`: a hand edit (no transition drops entries). */
function without(p: Policy, id: string): Policy {
  const lobby = p.services.lobby!;
  return { ...p, services: { ...p.services, lobby: { ...lobby, processes: lobby.processes.filter((e) => e.id !== id) } } };
}

/** lobby with the entry `id` moved to `port`: a hand edit. */
function moved(p: Policy, id: string, port: number): Policy {
  const lobby = p.services.lobby!;
  return { ...p, services: { ...p.services, lobby: { ...lobby, processes: lobby.processes.map((e) => (e.id === id ? { ...e, port } : e)) } } };
}

/** `fleet()` changed by `edit`, diffed against the untouched fleet. */
function changesAfter(edit: (p: Policy) => Policy): PolicyChange[] {
  return diffPolicies(fleet(), edit(fleet()));
}

describe('diffPolicies', () => {
  it.each<[string, (p: Policy) => Policy, PolicyChange[]]>([
    ['no change', (p) => p, []],
    ['generation bump only', (p) => ({ ...p, generation: 8, updatedAt: T1.toISOString() }), []],
    ['process added', (p) => claimStart(p, 'lobby', [np], OWNER, T1), [{ kind: 'process-added', service: 'lobby', id: 'lobby@1.8.0#0', state: 'starting' }]],
    ['process started and ready in one step', (p) => started(p, 'lobby', [np], T1), [{ kind: 'process-added', service: 'lobby', id: 'lobby@1.8.0#0', state: 'active' }]],
    ['process ready', (p) => markActive(p, 'lobby', ['lobby@1.7.0#0'], T1), [{ kind: 'process-state', service: 'lobby', id: 'lobby@1.7.0#0', from: 'starting', to: 'active' }]],
    ['process removed by hand', (p) => without(p, 'lobby@1.2.0#0'), [{ kind: 'process-removed', service: 'lobby', id: 'lobby@1.2.0#0' }]],
    ['a new incarnation beside the retired one', (p) => claimStart(p, 'lobby', [{ ...np, id: 'lobby@1.3.0#0.g8', version: '1.3.0', port: 7520 }], OWNER, T1), [
      { kind: 'process-added', service: 'lobby', id: 'lobby@1.3.0#0.g8', state: 'starting' },
    ]],
    ['process moved to another port by hand', (p) => moved(p, 'lobby@1.3.0#0', 7520), [
      { kind: 'process-endpoint', service: 'lobby', id: 'lobby@1.3.0#0', from: { host: 'local', address: '127.0.0.1', port: 7499 }, to: { host: 'local', address: '127.0.0.1', port: 7520 } },
    ]],
    ['promote', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), [
      { kind: 'target', service: 'lobby', from: '1.5.0', to: '1.6.0' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.5.0#0', from: 'active', to: 'draining' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.5.0#1', from: 'active', to: 'draining' },
    ]],
    ['promote of the target changes nothing', (p) => promote(p, 'lobby', '1.5.0', T1, MIN30), []],
    ['canary set', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 10 }), [{ kind: 'canary', service: 'lobby', from: null, to: { version: '1.6.0', weight: 10 } }]],
    ['stop claimed', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], { now: T1, reason: 'drained', owner: OWNER }), [
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.4.0#0', from: 'draining', to: 'stopping' },
    ]],
    ['stopped process retired', (p) => retire(p, 'lobby', ['lobby@1.1.0#0'], T1), [{ kind: 'process-state', service: 'lobby', id: 'lobby@1.1.0#0', from: 'stopping', to: 'retired' }]],
    ['drain, claim and retire', (p) => retire(claimStop(drain(p, 'lobby', '1.6.0', T1, MIN30), 'lobby', ['lobby@1.4.0#0'], { now: T1, reason: 'drained', owner: OWNER }), 'lobby', ['lobby@1.4.0#0'], T1), [
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.4.0#0', from: 'draining', to: 'retired' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.6.0#0', from: 'active', to: 'draining' },
    ]],
    ['setting changed', (p) => ({ ...p, services: { ...p.services, lobby: { ...p.services.lobby!, match: 'patch' } } }), [{ kind: 'setting', service: 'lobby', key: 'match', from: 'exact', to: 'patch' }]],
    ['service removed', (p) => ({ ...p, services: { lobby: p.services.lobby! } }), [{ kind: 'service-removed', service: 'chat' }]],
    ['service added with non-default login', (p) => claimStart(p, 'pay', [{ ...np, id: 'pay@1.0.0#0', version: '1.0.0', port: 7700 }], OWNER, T1, { login: 'allow' }), [
      { kind: 'service-added', service: 'pay' },
      { kind: 'setting', service: 'pay', key: 'login', from: 'force', to: 'allow' },
      { kind: 'process-added', service: 'pay', id: 'pay@1.0.0#0', state: 'starting' },
    ]],
  ])('%s', (_label, edit, expected) => {
    expect(changesAfter(edit)).toEqual(expected);
  });

  it('treats a null before as the first revision', () => {
    const only = policyOf({ chat: service('2.0.0', [proc('chat@2.0.0#0', 'active', 7600)]) });
    expect(diffPolicies(null, only)).toEqual([
      { kind: 'service-added', service: 'chat' },
      { kind: 'target', service: 'chat', from: null, to: '2.0.0' },
      { kind: 'process-added', service: 'chat', id: 'chat@2.0.0#0', state: 'active' },
    ]);
  });

  it('lists services in name order', () => {
    const services = diffPolicies(null, fleet()).filter((c) => c.kind === 'service-added').map((c) => c.service);
    expect(services).toEqual(['chat', 'lobby']);
  });
});

describe('describeChange', () => {
  const endpoint = (port: number) => ({ host: 'local', address: '127.0.0.1', port });
  it.each<[PolicyChange, string]>([
    [{ kind: 'target', service: 'lobby', from: '1.4.0', to: '1.5.0' }, 'lobby: target 1.4.0 → 1.5.0'],
    [{ kind: 'target', service: 'lobby', from: null, to: '1.5.0' }, 'lobby: target none → 1.5.0'],
    [{ kind: 'process-state', service: 'lobby', id: 'lobby@1.4.0#0', from: 'active', to: 'draining' }, 'lobby@1.4.0#0: active → draining'],
    [{ kind: 'process-state', service: 'lobby', id: 'lobby@1.4.0#0.g9', from: 'draining', to: 'stopping' }, 'lobby@1.4.0#0.g9: draining → stopping'],
    [{ kind: 'process-added', service: 'lobby', id: 'lobby@1.6.0#0', state: 'starting' }, 'lobby@1.6.0#0: added (starting)'],
    [{ kind: 'process-removed', service: 'lobby', id: 'lobby@1.6.0#0' }, 'lobby@1.6.0#0: removed'],
    [{ kind: 'canary', service: 'lobby', from: null, to: { version: '1.6.0', weight: 10 } }, 'lobby: canary none → 1.6.0 at 10%'],
    [{ kind: 'canary', service: 'lobby', from: { version: '1.6.0', weight: 10 }, to: { version: '1.6.0', weight: 25 } }, 'lobby: canary 1.6.0 at 10% → 1.6.0 at 25%'],
    [{ kind: 'setting', service: 'lobby', key: 'login', from: 'force', to: 'allow' }, 'lobby: login force → allow'],
    [{ kind: 'service-added', service: 'pay' }, 'pay: service added'],
    [{ kind: 'service-removed', service: 'pay' }, 'pay: service removed'],
    [{ kind: 'process-endpoint', service: 'lobby', id: 'lobby@1.3.0#0', from: endpoint(7499), to: endpoint(7520) }, 'lobby@1.3.0#0: moved local 127.0.0.1:7499 → local 127.0.0.1:7520'],
  ])('%j → %j', (change, text) => {
    expect(describeChange(change)).toBe(text);
  });
});
