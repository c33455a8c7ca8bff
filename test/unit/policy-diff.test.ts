import { describe, expect, it } from 'vitest';
import { describeChange, diffPolicies, type PolicyChange } from '../../src/core/policy-diff.js';
import type { Policy } from '../../src/core/policy-schema.js';
import { addProcesses, drain, markActive, promote, removeProcesses, retire, setCanary } from '../../src/core/policy-transitions.js';
import { T1, fleet, policyOf, proc, service } from '../helpers/policy-builder.js';

const MIN30 = 30 * 60_000;
const np = { id: 'lobby@1.8.0#0', version: '1.8.0', host: 'local', address: '127.0.0.1', port: 7510 };

/** `fleet()` changed by `edit`, diffed against the untouched fleet. */
function changesAfter(edit: (p: Policy) => Policy): PolicyChange[] {
  return diffPolicies(fleet(), edit(fleet()));
}

describe('diffPolicies', () => {
  it.each<[string, (p: Policy) => Policy, PolicyChange[]]>([
    ['no change', (p) => p, []],
    ['generation bump only', (p) => ({ ...p, generation: 8, updatedAt: T1.toISOString() }), []],
    ['process added', (p) => addProcesses(p, 'lobby', [np], T1), [{ kind: 'process-added', service: 'lobby', id: 'lobby@1.8.0#0', state: 'starting' }]],
    ['process ready', (p) => markActive(p, 'lobby', ['lobby@1.7.0#0'], T1), [{ kind: 'process-state', service: 'lobby', id: 'lobby@1.7.0#0', from: 'starting', to: 'active' }]],
    ['process removed', (p) => removeProcesses(p, 'lobby', ['lobby@1.2.0#0']), [{ kind: 'process-removed', service: 'lobby', id: 'lobby@1.2.0#0' }]],
    ['retired process restarted on another port', (p) => addProcesses(p, 'lobby', [{ ...np, id: 'lobby@1.3.0#0', version: '1.3.0', port: 7520 }], T1), [
      { kind: 'process-endpoint', service: 'lobby', id: 'lobby@1.3.0#0', from: { host: 'local', address: '127.0.0.1', port: 7499 }, to: { host: 'local', address: '127.0.0.1', port: 7520 } },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.3.0#0', from: 'retired', to: 'starting' },
    ]],
    ['promote', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), [
      { kind: 'target', service: 'lobby', from: '1.5.0', to: '1.6.0' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.5.0#0', from: 'active', to: 'draining' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.5.0#1', from: 'active', to: 'draining' },
    ]],
    ['canary set', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 10 }), [{ kind: 'canary', service: 'lobby', from: null, to: { version: '1.6.0', weight: 10 } }]],
    ['drain and retire', (p) => retire(drain(p, 'lobby', '1.6.0', T1, MIN30), 'lobby', ['lobby@1.4.0#0'], T1), [
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.4.0#0', from: 'draining', to: 'retired' },
      { kind: 'process-state', service: 'lobby', id: 'lobby@1.6.0#0', from: 'active', to: 'draining' },
    ]],
    ['setting changed', (p) => ({ ...p, services: { ...p.services, lobby: { ...p.services.lobby!, match: 'patch' } } }), [{ kind: 'setting', service: 'lobby', key: 'match', from: 'exact', to: 'patch' }]],
    ['service removed', (p) => ({ ...p, services: { lobby: p.services.lobby! } }), [{ kind: 'service-removed', service: 'chat' }]],
    ['service added with non-default login', (p) => addProcesses(p, 'pay', [{ ...np, id: 'pay@1.0.0#0', version: '1.0.0', port: 7700 }], T1, { login: 'allow' }), [
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
