import { describe, expect, it } from 'vitest';
import { SwitchyardError, type ErrorKind } from '../../src/core/errors.js';
import { checkPolicy, type Policy } from '../../src/core/policy-schema.js';
import {
  addProcesses,
  drain,
  markActive,
  markFailed,
  processesOf,
  promote,
  removeProcesses,
  retire,
  rollback,
  servicePolicy,
  setCanary,
  versionsByState,
  type NewProcess,
} from '../../src/core/policy-transitions.js';
import { T1, fleet, lonely, policyOf, proc, service, states } from '../helpers/policy-builder.js';

const MIN30 = 30 * 60_000;
const DEADLINE = '2026-11-25T11:30:00.000Z'; // T1 + 30m
const OLD_DEADLINE = '2026-11-25T09:30:00.000Z';
const NOW = T1.toISOString();

function np(id: string, port: number, host = 'local'): NewProcess {
  return { id, version: id.split('@')[1]!.split('#')[0]!, host, address: '127.0.0.1', port };
}
const entry = (p: Policy, id: string, svc = 'lobby') => p.services[svc]!.processes.find((x) => x.id === id);
const withCanary = (version: string, weight = 10) => setCanary(fleet(), 'lobby', { version, weight });
const noTarget = () => policyOf({ pay: service(null, [proc('pay@1.0.0#0', 'active', 7700)]) });

type Run = (p: Policy) => Policy;

describe('transitions that succeed', () => {
  it.each<[string, Run, (next: Policy) => void]>([
    ['addProcesses adds a starting process', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510)], T1), (n) => expect(entry(n, 'lobby@1.8.0#0')).toMatchObject({ state: 'starting', since: NOW, port: 7510 })],
    ['addProcesses adds several at once', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510), np('lobby@1.8.0#1', 7511)], T1), (n) => expect(processesOf(n, 'lobby', '1.8.0', ['starting'])).toHaveLength(2)],
    ['addProcesses creates a service with defaults', (p) => addProcesses(p, 'pay', [np('pay@1.0.0#0', 7700)], T1, { match: 'patch', login: 'allow' }), (n) => expect(n.services.pay).toMatchObject({ target: null, canary: null, match: 'patch', login: 'allow' })],
    ['addProcesses creates a service exact/force', (p) => addProcesses(p, 'pay', [np('pay@1.0.0#0', 7700)], T1), (n) => expect(n.services.pay).toMatchObject({ match: 'exact', login: 'force' })],
    ['addProcesses replaces a retired entry in place', (p) => addProcesses(p, 'lobby', [np('lobby@1.3.0#0', 7499)], T1), (n) => expect(n.services.lobby!.processes[5]).toMatchObject({ id: 'lobby@1.3.0#0', state: 'starting', since: NOW })],
    ['addProcesses reuses a port on another host', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7501, 'edge-1')], T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.host).toBe('edge-1')],
    ['markActive: starting → active', (p) => markActive(p, 'lobby', ['lobby@1.7.0#0'], T1), (n) => expect(entry(n, 'lobby@1.7.0#0')).toMatchObject({ state: 'active', since: NOW })],
    ['markActive on an active process is a no-op', (p) => markActive(p, 'lobby', ['lobby@1.6.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['markFailed: starting → failed', (p) => markFailed(p, 'lobby', ['lobby@1.7.0#0'], T1), (n) => expect(entry(n, 'lobby@1.7.0#0')).toMatchObject({ state: 'failed', since: NOW })],
    ['markFailed on a failed process is a no-op', (p) => markFailed(p, 'lobby', ['lobby@1.2.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['promote drains the old target', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.5.0#1')).toMatchObject({ state: 'draining', since: NOW, drainDeadline: DEADLINE })],
    ['promote sets the target', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.target).toBe('1.6.0')],
    ['promote keeps an earlier drain deadline', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.4.0#0')?.drainDeadline).toBe(OLD_DEADLINE)],
    ['promote of the canary clears it', () => promote(withCanary('1.6.0'), 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.canary).toBeNull()],
    ['rollback keeps an unrelated canary', () => rollback(withCanary('1.6.0'), 'lobby', '1.4.0', T1, MIN30), (n) => expect(n.services.lobby!.canary).toEqual({ version: '1.6.0', weight: 10 })],
    ['promote with no previous target', () => promote(noTarget(), 'pay', '1.0.0', T1, MIN30), (n) => expect(n.services.pay!.target).toBe('1.0.0')],
    ['promote with a zero drain timeout', (p) => promote(p, 'lobby', '1.6.0', T1, 0), (n) => expect(entry(n, 'lobby@1.5.0#0')?.drainDeadline).toBe(NOW)],
    ['setCanary sets version and weight', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 10 }), (n) => expect(n.services.lobby!.canary).toEqual({ version: '1.6.0', weight: 10 })],
    ['setCanary accepts weight 0', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 0 }), (n) => expect(n.services.lobby!.canary?.weight).toBe(0)],
    ['setCanary accepts weight 100', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 100 }), (n) => expect(n.services.lobby!.canary?.weight).toBe(100)],
    ['setCanary null clears it', () => setCanary(withCanary('1.6.0'), 'lobby', null), (n) => expect(n.services.lobby!.canary).toBeNull()],
    ['drain: active → draining with deadline', (p) => drain(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.6.0#0')).toMatchObject({ state: 'draining', since: NOW, drainDeadline: DEADLINE })],
    ['drain again keeps the deadline', (p) => drain(p, 'lobby', '1.4.0', T1, MIN30), (n) => expect(n).toEqual(fleet())],
    ['drain of the canary clears it', () => drain(withCanary('1.6.0'), 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.canary).toBeNull()],
    ['drain leaves the target alone', (p) => drain(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(states(n)).toMatchObject({ 'lobby@1.5.0#0': 'active', 'lobby@1.5.0#1': 'active' })],
    ['retire a draining process', (p) => retire(p, 'lobby', ['lobby@1.4.0#0'], T1), (n) => expect(entry(n, 'lobby@1.4.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.4.0#0'), state: 'retired', since: NOW, drainDeadline: undefined })],
    ['retire an active non-target process', (p) => retire(p, 'lobby', ['lobby@1.6.0#0'], T1), (n) => expect(states(n)['lobby@1.6.0#0']).toBe('retired')],
    ['retire failed and starting processes', (p) => retire(p, 'lobby', ['lobby@1.2.0#0', 'lobby@1.7.0#0'], T1), (n) => expect(states(n)).toMatchObject({ 'lobby@1.2.0#0': 'retired', 'lobby@1.7.0#0': 'retired' })],
    ['retire one of two target processes', (p) => retire(p, 'lobby', ['lobby@1.5.0#1'], T1), (n) => expect(states(n)).toMatchObject({ 'lobby@1.5.0#0': 'active', 'lobby@1.5.0#1': 'retired' })],
    ['retire an already retired process is a no-op', (p) => retire(p, 'lobby', ['lobby@1.3.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['rollback revives draining processes', (p) => rollback(p, 'lobby', '1.4.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.4.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.4.0#0'), state: 'active', since: NOW, drainDeadline: undefined })],
    ['rollback drains the old target', (p) => rollback(p, 'lobby', '1.4.0', T1, MIN30), (n) => expect(n.services.lobby).toMatchObject({ target: '1.4.0', processes: expect.arrayContaining([expect.objectContaining({ id: 'lobby@1.5.0#0', state: 'draining', drainDeadline: DEADLINE })]) })],
    ['rollback to an active non-target version', (p) => rollback(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.target).toBe('1.6.0')],
    ['rollback to the canary clears it', () => rollback(withCanary('1.6.0'), 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.canary).toBeNull()],
    ['removeProcesses drops entries', (p) => removeProcesses(p, 'lobby', ['lobby@1.7.0#0', 'lobby@1.2.0#0']), (n) => expect(Object.keys(states(n))).not.toContain('lobby@1.7.0#0')],
    ['removeProcesses drops an active non-target', (p) => removeProcesses(p, 'lobby', ['lobby@1.6.0#0']), (n) => expect(n.services.lobby!.processes).toHaveLength(6)],
  ])('%s', (_label, run, check) => {
    const input = fleet();
    const snapshot = structuredClone(input);
    const next = run(input);
    check(next);
    expect(input).toEqual(snapshot);
    expect(next).not.toBe(input);
    expect([next.generation, next.updatedAt]).toEqual([snapshot.generation, snapshot.updatedAt]);
    const check2 = checkPolicy(JSON.parse(JSON.stringify(next)));
    expect(check2.ok, JSON.stringify(check2)).toBe(true);
  });
});

describe('transitions that refuse', () => {
  it.each<[string, Run, string, ErrorKind]>([
    ['add: bad service name', (p) => addProcesses(p, 'lob by', [np('lobby@1.8.0#0', 7510)], T1), 'invalid_service', 'usage'],
    ['add: bad version', (p) => addProcesses(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), version: 'v1.8.0' }], T1), 'invalid_version', 'usage'],
    ['add: duplicate id', (p) => addProcesses(p, 'lobby', [np('lobby@1.5.0#0', 7510)], T1), 'duplicate_process', 'usage'],
    ['add: duplicate id of a failed process', (p) => addProcesses(p, 'lobby', [np('lobby@1.2.0#0', 7510)], T1), 'duplicate_process', 'usage'],
    ['add: duplicate id in one batch', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510), np('lobby@1.8.0#0', 7511)], T1), 'duplicate_process', 'usage'],
    ['add: port of an active process', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7501)], T1), 'port_in_use', 'usage'],
    ['add: port of another service', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7600)], T1), 'port_in_use', 'usage'],
    ['add: port of a failed process', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7498)], T1), 'port_in_use', 'usage'],
    ['add: same port twice in one batch', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510), np('lobby@1.8.0#1', 7510)], T1), 'port_in_use', 'usage'],
    ['add: id of another service', (p) => addProcesses(p, 'lobby', [np('chat@1.8.0#0', 7510)], T1), 'invalid_process', 'usage'],
    ['add: id of another version', (p) => addProcesses(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), version: '1.9.0' }], T1), 'invalid_process', 'usage'],
    ['add: port out of range', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 70000)], T1), 'invalid_process', 'usage'],
    ['add: bad address', (p) => addProcesses(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), address: 'a b' }], T1), 'invalid_process', 'usage'],
    ['add: bad host', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510, 'bad host')], T1), 'invalid_host', 'usage'],
    ['add: nothing to add', (p) => addProcesses(p, 'lobby', [], T1), 'no_processes', 'usage'],
    ['add: invalid date', (p) => addProcesses(p, 'lobby', [np('lobby@1.8.0#0', 7510)], new Date('nope')), 'invalid_time', 'failed'],
    ['markActive: unknown id', (p) => markActive(p, 'lobby', ['lobby@9.9.9#0'], T1), 'unknown_process', 'usage'],
    ['markActive: unknown service', (p) => markActive(p, 'nope', ['nope@1.0.0#0'], T1), 'unknown_service', 'usage'],
    ['markActive: retired process', (p) => markActive(p, 'lobby', ['lobby@1.3.0#0'], T1), 'invalid_transition', 'failed'],
    ['markActive: draining process', (p) => markActive(p, 'lobby', ['lobby@1.4.0#0'], T1), 'invalid_transition', 'failed'],
    ['markActive: no ids', (p) => markActive(p, 'lobby', [], T1), 'no_processes', 'usage'],
    ['markFailed: active process', (p) => markFailed(p, 'lobby', ['lobby@1.6.0#0'], T1), 'invalid_transition', 'failed'],
    ['promote: already the target', (p) => promote(p, 'lobby', '1.5.0', T1, MIN30), 'already_target', 'usage'],
    ['promote: unknown version', (p) => promote(p, 'lobby', '9.9.9', T1, MIN30), 'unknown_version', 'usage'],
    ['promote: only starting', (p) => promote(p, 'lobby', '1.7.0', T1, MIN30), 'no_active_process', 'usage'],
    ['promote: only draining', (p) => promote(p, 'lobby', '1.4.0', T1, MIN30), 'no_active_process', 'usage'],
    ['promote: only retired', (p) => promote(p, 'lobby', '1.3.0', T1, MIN30), 'no_active_process', 'usage'],
    ['promote: bad version', (p) => promote(p, 'lobby', 'latest', T1, MIN30), 'invalid_version', 'usage'],
    ['promote: negative timeout', (p) => promote(p, 'lobby', '1.6.0', T1, -1), 'invalid_duration', 'usage'],
    ['promote: NaN timeout', (p) => promote(p, 'lobby', '1.6.0', T1, Number.NaN), 'invalid_duration', 'usage'],
    ['promote: unknown service', (p) => promote(p, 'constructor', '1.6.0', T1, MIN30), 'unknown_service', 'usage'],
    ['setCanary: the target', (p) => setCanary(p, 'lobby', { version: '1.5.0', weight: 10 }), 'canary_is_target', 'usage'],
    ['setCanary: weight over 100', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: 101 }), 'invalid_weight', 'usage'],
    ['setCanary: negative weight', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: -1 }), 'invalid_weight', 'usage'],
    ['setCanary: NaN weight', (p) => setCanary(p, 'lobby', { version: '1.6.0', weight: Number.NaN }), 'invalid_weight', 'usage'],
    ['setCanary: only starting', (p) => setCanary(p, 'lobby', { version: '1.7.0', weight: 10 }), 'no_active_process', 'usage'],
    ['setCanary: unknown version', (p) => setCanary(p, 'lobby', { version: '9.9.9', weight: 10 }), 'unknown_version', 'usage'],
    ['setCanary: no target yet', () => setCanary(noTarget(), 'pay', { version: '1.0.0', weight: 10 }), 'no_target', 'usage'],
    ['drain: the target', (p) => drain(p, 'lobby', '1.5.0', T1, MIN30), 'drain_target', 'usage'],
    ['drain: unknown version', (p) => drain(p, 'lobby', '9.9.9', T1, MIN30), 'unknown_version', 'usage'],
    ['drain: only retired', (p) => drain(p, 'lobby', '1.3.0', T1, MIN30), 'not_serving', 'usage'],
    ['drain: only starting', (p) => drain(p, 'lobby', '1.7.0', T1, MIN30), 'not_serving', 'usage'],
    ['retire: the last target process', () => retire(lonely(), 'lobby', ['lobby@1.5.0#0'], T1), 'last_target_process', 'usage'],
    ['retire: every target process at once', (p) => retire(p, 'lobby', ['lobby@1.5.0#0', 'lobby@1.5.0#1'], T1), 'last_target_process', 'usage'],
    ['retire: unknown id', (p) => retire(p, 'lobby', ['lobby@1.5.0#9'], T1), 'unknown_process', 'usage'],
    ['rollback: to the target', (p) => rollback(p, 'lobby', '1.5.0', T1, MIN30), 'already_target', 'usage'],
    ['rollback: all retired', (p) => rollback(p, 'lobby', '1.3.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: only starting', (p) => rollback(p, 'lobby', '1.7.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: no entry at all', (p) => rollback(p, 'lobby', '1.1.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: bad version', (p) => rollback(p, 'lobby', '1.4', T1, MIN30), 'invalid_version', 'usage'],
    ['remove: the last target process', () => removeProcesses(lonely(), 'lobby', ['lobby@1.5.0#0']), 'last_target_process', 'usage'],
    ['remove: unknown id', (p) => removeProcesses(p, 'lobby', ['lobby@1.5.0#9']), 'unknown_process', 'usage'],
  ])('%s → %s', (_label, run, code, kind) => {
    const input = fleet();
    const snapshot = structuredClone(input);
    let caught: unknown;
    try {
      run(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SwitchyardError);
    expect({ code: (caught as SwitchyardError).code, kind: (caught as SwitchyardError).kind }).toEqual({ code, kind });
    expect(input).toEqual(snapshot);
  });
});

describe('messages say what to do', () => {
  const message = (run: () => unknown): string => {
    try {
      run();
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it.each<[string, () => unknown, RegExp]>([
    ['unknown service lists the known ones', () => servicePolicy(fleet(), 'nope'), /known services: chat, lobby/],
    ['unknown version says deploy first', () => promote(fleet(), 'lobby', '9.9.9', T1, MIN30), /deploy 9\.9\.9 first/],
    ['draining version points at rollback', () => promote(fleet(), 'lobby', '1.4.0', T1, MIN30), /roll back to 1\.4\.0/],
    ['drain target says promote first', () => drain(fleet(), 'lobby', '1.5.0', T1, MIN30), /promote another version or roll back before draining 1\.5\.0/],
    ['needs_restart says start again', () => rollback(fleet(), 'lobby', '1.3.0', T1, MIN30), /started again/],
    ['port_in_use names the holder', () => addProcesses(fleet(), 'lobby', [np('lobby@1.8.0#0', 7600)], T1), /chat@2\.0\.0#0/],
    ['empty policy says deploy one', () => servicePolicy(policyOf({}), 'lobby'), /no services yet/],
  ])('%s', (_label, run, pattern) => {
    expect(message(run)).toMatch(pattern);
  });
});

describe('queries', () => {
  it.each<[string, readonly ('active' | 'draining' | 'starting')[] | undefined, string[]]>([
    ['1.5.0', undefined, ['lobby@1.5.0#0', 'lobby@1.5.0#1']],
    ['1.5.0', ['draining'], []],
    ['1.4.0', ['active', 'draining'], ['lobby@1.4.0#0']],
    ['9.9.9', undefined, []],
  ])('processesOf lobby %s in %j', (version, wanted, ids) => {
    expect(processesOf(fleet(), 'lobby', version, wanted).map((p) => p.id)).toEqual(ids);
  });

  it('versionsByState groups versions newest first', () => {
    const withSplit = addProcesses(fleet(), 'lobby', [np('lobby@1.10.0#0', 7520)], T1);
    expect(versionsByState(withSplit.services.lobby!)).toEqual({
      starting: ['1.10.0', '1.7.0'],
      active: ['1.6.0', '1.5.0'],
      draining: ['1.4.0'],
      stopping: [],
      retired: ['1.3.0'],
      failed: ['1.2.0'],
    });
  });

  it('servicePolicy is not fooled by Object.prototype names', () => {
    expect(() => servicePolicy(fleet(), 'constructor')).toThrow(/no service "constructor"/);
  });
});
