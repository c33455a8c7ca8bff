import { describe, expect, it } from 'vitest';
import { applyRefusals } from '../../src/core/apply-rules.js';
import type { Policy, ProcessEntry } from '../../src/core/policy-schema.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * The rules `policy apply` and `policy validate` hold a hand-written policy
 * to, against the live one: one line a case, the refusals as `rule id`.
 */
const LIVE = policyOf({
  lobby: service('1.5.0', [
    proc('lobby@1.5.0#0.g3', 'active', 7501),
    proc('lobby@1.4.0#0.g1', 'draining', 7500),
    proc('lobby@1.3.0#0.g0', 'retired', 7499),
    proc('lobby@1.2.0#0.g0', 'failed', 7498),
  ]),
});

/** The live policy with lobby's processes edited, and its service fields changed. */
function edit(change: (processes: ProcessEntry[]) => ProcessEntry[], fields: Partial<Policy['services'][string]> = {}): Policy {
  const next = structuredClone(LIVE) as Policy;
  next.services.lobby = { ...next.services.lobby!, ...fields, processes: change(next.services.lobby!.processes) };
  return next;
}
const set = (id: string, patch: Partial<ProcessEntry>) => (ps: ProcessEntry[]) => ps.map((p) => (p.id === id ? { ...p, ...patch } : p));
const without = (id: string) => (ps: ProcessEntry[]) => ps.filter((p) => p.id !== id);
const lines = (after: Policy) => applyRefusals(LIVE, after).map((r) => `${r.rule}${r.id === undefined ? '' : ` ${r.id}`}`);

describe('applyRefusals', () => {
  it.each<[string, Policy, string[]]>([
    ['the same policy', edit((ps) => ps), []],
    ['an ordinary edit: login policy and match rule', edit((ps) => ps, { login: 'allow', match: 'patch' }), []],
    ['a canary on an active version', edit((ps) => [...ps, proc('lobby@1.6.0#0.g4', 'active', 7502)], { canary: { version: '1.6.0', weight: 10 } }), []],
    ['a retired or failed entry dropped', edit((ps) => without('lobby@1.2.0#0.g0')(without('lobby@1.3.0#0.g0')(ps))), []],
    ['a drain begun by hand', edit(set('lobby@1.5.0#0.g3', { state: 'draining' }), { target: null }), []],
    ['a running process adopted (new and active)', edit((ps) => [...ps, proc('lobby@1.6.0#0', 'active', 7502)]), []],
    ['a live process dropped', edit(without('lobby@1.4.0#0.g1')), ['drops_live_process lobby@1.4.0#0.g1']],
    ['the target\'s only process dropped', edit(without('lobby@1.5.0#0.g3')), ['drops_live_process lobby@1.5.0#0.g3', 'no_live_process']],
    ['a target with no process', edit((ps) => ps, { target: '1.9.0' }), ['no_live_process']],
    ['a canary with no active process', edit((ps) => ps, { canary: { version: '1.4.0', weight: 5 } }), ['no_live_process']],
    ['a retired process brought back', edit(set('lobby@1.3.0#0.g0', { state: 'active' })), ['brought_back lobby@1.3.0#0.g0']],
    ['a retired process made the target\'s only one', edit((ps) => set('lobby@1.3.0#0.g0', { state: 'active' })(without('lobby@1.5.0#0.g3')(ps)), { target: '1.3.0' }), ['drops_live_process lobby@1.5.0#0.g3', 'brought_back lobby@1.3.0#0.g0']],
    ['a failed process brought back', edit(set('lobby@1.2.0#0.g0', { state: 'draining' })), ['brought_back lobby@1.2.0#0.g0']],
    ['an active process sent back to starting', edit(set('lobby@1.5.0#0.g3', { state: 'starting' })), ['invalid_transition lobby@1.5.0#0.g3', 'no_live_process']],
    ['a live process moved to another port', edit(set('lobby@1.4.0#0.g1', { port: 7600 })), ['moved_live_process lobby@1.4.0#0.g1']],
    ['a live process moved to another address', edit(set('lobby@1.5.0#0.g3', { address: 'edge-9.example.com' })), ['moved_live_process lobby@1.5.0#0.g3']],
    ['two live processes on one port', edit(set('lobby@1.4.0#0.g1', { port: 7501 })), ['moved_live_process lobby@1.4.0#0.g1', 'port_shared lobby@1.4.0#0.g1']],
    ['a new claim written by hand', edit((ps) => [...ps, proc('lobby@1.6.0#0.g9', 'starting', 7502)]), ['invalid_transition lobby@1.6.0#0.g9']],
  ])('%s', (_label, after, expected) => {
    expect(lines(after)).toEqual(expected);
  });

  it('names each change in a sentence', () => {
    const [refusal] = applyRefusals(LIVE, edit(without('lobby@1.4.0#0.g1')));
    expect(refusal!.message).toBe('lobby@1.4.0#0.g1 is draining and would be dropped from the policy: a live process is retired by draining it, never by forgetting it');
  });
});
