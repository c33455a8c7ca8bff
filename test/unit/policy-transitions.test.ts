import { describe, expect, it } from 'vitest';
import { SwitchyardError, type ErrorKind } from '../../src/core/errors.js';
import { checkPolicy, type Policy, type ProcessState } from '../../src/core/policy-schema.js';
import {
  claimStart,
  claimStop,
  drain,
  markActive,
  markFailed,
  processesOf,
  promote,
  reactivate,
  retire,
  rollback,
  servicePolicy,
  setCanary,
  takeOver,
  versionsByState,
  type StopClaim,
} from '../../src/core/policy-transitions.js';
import { EARLIER, EVERY_STATE, OWNER, T1, everyState, fleet, lonely, np, policyOf, proc, service, servingDrained, states } from '../helpers/policy-builder.js';

const MIN30 = 30 * 60_000;
const DEADLINE = '2026-11-25T11:30:00.000Z'; // T1 + 30m
const OLD_DEADLINE = '2026-11-25T09:30:00.000Z';
const NOW = T1.toISOString();

const entry = (p: Policy, id: string, svc = 'lobby') => p.services[svc]!.processes.find((x) => x.id === id);
const withCanary = (version: string, weight = 10) => setCanary(fleet(), 'lobby', { version, weight });
const noTarget = () => policyOf({ pay: service(null, [proc('pay@1.0.0#0', 'active', 7700)]) });
const stop = (reason: StopClaim['reason'], extra: Partial<StopClaim> = {}): StopClaim => ({ now: T1, reason, owner: OWNER, ...extra });

type Run = (p: Policy) => Policy;

/** The error `run` throws, checked to be a SwitchyardError; fails the test when it throws nothing. */
function refusal(run: () => unknown): SwitchyardError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SwitchyardError);
  return caught as SwitchyardError;
}

describe('transitions that succeed', () => {
  it.each<[string, Run, (next: Policy) => void]>([
    ['claimStart adds a starting process with its owner', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0.g42', 7510)], OWNER, T1), (n) => expect(entry(n, 'lobby@1.8.0#0.g42')).toMatchObject({ state: 'starting', since: NOW, port: 7510, owner: OWNER })],
    ['claimStart adds several at once', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0.g8', 7510), np('lobby@1.8.0#1.g8', 7511)], OWNER, T1), (n) => expect(processesOf(n, 'lobby', '1.8.0', ['starting'])).toHaveLength(2)],
    ['claimStart accepts an id without incarnation', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7510)], OWNER, T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.state).toBe('starting')],
    ['claimStart creates a service with defaults', (p) => claimStart(p, 'pay', [np('pay@1.0.0#0', 7700)], OWNER, T1, { match: 'patch', login: 'allow' }), (n) => expect(n.services.pay).toMatchObject({ target: null, canary: null, match: 'patch', login: 'allow' })],
    ['claimStart creates a service exact/force', (p) => claimStart(p, 'pay', [np('pay@1.0.0#0', 7700)], OWNER, T1), (n) => expect(n.services.pay).toMatchObject({ match: 'exact', login: 'force' })],
    ['claimStart reuses a port on another host', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7501, 'edge-1')], OWNER, T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.host).toBe('edge-1')],
    ['claimStart takes the port of a retired process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7499)], OWNER, T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.port).toBe(7499)],
    ['claimStart takes the port of a failed process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7498)], OWNER, T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.port).toBe(7498)],
    ['claimStart of a new incarnation beside a draining one', (p) => claimStart(p, 'lobby', [np('lobby@1.4.0#0.g9', 7510)], OWNER, T1), (n) => expect(states(n)).toMatchObject({ 'lobby@1.4.0#0': 'draining', 'lobby@1.4.0#0.g9': 'starting' })],
    ['markActive: starting → active, claim released', (p) => markActive(p, 'lobby', ['lobby@1.7.0#0'], T1), (n) => expect(entry(n, 'lobby@1.7.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.7.0#0'), state: 'active', since: NOW })],
    ['markActive on an active process is a no-op', (p) => markActive(p, 'lobby', ['lobby@1.6.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['markFailed: starting → failed (abandoned)', (p) => markFailed(p, 'lobby', ['lobby@1.7.0#0'], T1), (n) => expect(entry(n, 'lobby@1.7.0#0')).toMatchObject({ state: 'failed', since: NOW, reason: 'abandoned' })],
    ['markFailed drops the owner', () => markFailed(claimStart(fleet(), 'lobby', [np('lobby@1.8.0#0', 7510)], OWNER, T1), 'lobby', ['lobby@1.8.0#0'], T1), (n) => expect(entry(n, 'lobby@1.8.0#0')?.owner).toBeUndefined()],
    ['markFailed on a failed process is a no-op', (p) => markFailed(p, 'lobby', ['lobby@1.2.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['reactivate: draining → active', (p) => reactivate(p, 'lobby', ['lobby@1.4.0#0'], T1), (n) => expect(entry(n, 'lobby@1.4.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.4.0#0'), state: 'active', since: NOW, drainDeadline: undefined })],
    ['reactivate of an active process is a no-op', (p) => reactivate(p, 'lobby', ['lobby@1.6.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['claimStop: draining → stopping', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained')), (n) => expect(entry(n, 'lobby@1.4.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.4.0#0'), state: 'stopping', since: NOW, reason: 'drained', owner: OWNER, drainDeadline: undefined })],
    ['claimStop past the deadline records the cut-off', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('deadline', { terminals: { 'lobby@1.4.0#0': 3 } })), (n) => expect(entry(n, 'lobby@1.4.0#0')).toMatchObject({ state: 'stopping', reason: 'deadline', terminalsCutOff: 3 })],
    ['claimStop drained never records a cut-off', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained', { terminals: { 'lobby@1.4.0#0': 3 } })), (n) => expect(entry(n, 'lobby@1.4.0#0')?.terminalsCutOff).toBeUndefined()],
    ['claimStop with an expectSince that holds', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained', { expectSince: { 'lobby@1.4.0#0': EARLIER } })), (n) => expect(states(n)['lobby@1.4.0#0']).toBe('stopping')],
    ['claimStop now (drain --now)', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('now')), (n) => expect(entry(n, 'lobby@1.4.0#0')?.reason).toBe('now')],
    ['claimStop lost: an active non-target', (p) => claimStop(p, 'lobby', ['lobby@1.6.0#0'], stop('lost')), (n) => expect(entry(n, 'lobby@1.6.0#0')).toMatchObject({ state: 'stopping', reason: 'lost' })],
    ['claimStop lost: one of two target processes', (p) => claimStop(p, 'lobby', ['lobby@1.5.0#1'], stop('lost')), (n) => expect(states(n)).toMatchObject({ 'lobby@1.5.0#0': 'active', 'lobby@1.5.0#1': 'stopping' })],
    ['claimStop lost: a draining target process beside an active one', () => claimStop(servingDrained(), 'lobby', ['lobby@1.5.0#1'], stop('lost')), (n) => expect(states(n)['lobby@1.5.0#1']).toBe('stopping')],
    ['claimStop lost: a draining canary process beside an active one', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#1'], stop('lost')), (n) => expect(states(n)['lobby@1.4.0#1']).toBe('stopping')],
    ['takeOver a stopping claim', (p) => takeOver(p, 'lobby', ['lobby@1.1.0#0'], OWNER), (n) => expect(entry(n, 'lobby@1.1.0#0')).toMatchObject({ state: 'stopping', owner: OWNER })],
    ['takeOver a starting claim', (p) => takeOver(p, 'lobby', ['lobby@1.7.0#0'], OWNER), (n) => expect(entry(n, 'lobby@1.7.0#0')).toMatchObject({ state: 'starting', owner: OWNER })],
    ['retire: stopping → retired, reason kept', (p) => retire(p, 'lobby', ['lobby@1.1.0#0'], T1), (n) => expect(entry(n, 'lobby@1.1.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.1.0#0'), state: 'retired', since: NOW, owner: undefined })],
    ['retire an already retired process is a no-op', (p) => retire(p, 'lobby', ['lobby@1.3.0#0'], T1), (n) => expect(n).toEqual(fleet())],
    ['claim, stop and retire in a row', (p) => retire(claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained')), 'lobby', ['lobby@1.4.0#0'], T1), (n) => expect(entry(n, 'lobby@1.4.0#0')).toMatchObject({ state: 'retired', reason: 'drained' })],
    ['promote drains the old target', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.5.0#1')).toMatchObject({ state: 'draining', since: NOW, drainDeadline: DEADLINE })],
    ['promote sets the target', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.target).toBe('1.6.0')],
    ['promote keeps an earlier drain deadline', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.4.0#0')?.drainDeadline).toBe(OLD_DEADLINE)],
    ['promote leaves a stopping claim alone', (p) => promote(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.1.0#0')).toEqual(entry(fleet(), 'lobby@1.1.0#0'))],
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
    ['rollback revives draining processes', (p) => rollback(p, 'lobby', '1.4.0', T1, MIN30), (n) => expect(entry(n, 'lobby@1.4.0#0')).toEqual({ ...entry(fleet(), 'lobby@1.4.0#0'), state: 'active', since: NOW, drainDeadline: undefined })],
    ['rollback drains the old target', (p) => rollback(p, 'lobby', '1.4.0', T1, MIN30), (n) => expect(n.services.lobby).toMatchObject({ target: '1.4.0', processes: expect.arrayContaining([expect.objectContaining({ id: 'lobby@1.5.0#0', state: 'draining', drainDeadline: DEADLINE })]) })],
    ['rollback to an active non-target version', (p) => rollback(p, 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.target).toBe('1.6.0')],
    ['rollback to the canary clears it', () => rollback(withCanary('1.6.0'), 'lobby', '1.6.0', T1, MIN30), (n) => expect(n.services.lobby!.canary).toBeNull()],
    ['rollback revives the draining incarnation, never the stopping one', () => rollback(claimStop(drainedPair(fleet(), 'lobby@1.1.0#0.g9', 7510), 'lobby', ['lobby@1.1.0#0.g9'], stop('lost')), 'lobby', '1.1.0', T1, MIN30), (n) => expect(states(n)).toMatchObject({ 'lobby@1.1.0#0': 'stopping', 'lobby@1.1.0#0.g9': 'stopping', 'lobby@1.1.0#1.g9': 'active' })],
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

  it('promote of the target returns the very same policy (a rerun is a no-op)', () => {
    const input = fleet();
    expect(promote(input, 'lobby', '1.5.0', T1, MIN30)).toBe(input);
  });
});

/** Two active 1.1.0 processes started beside the stopping one, then 1.1.0 drained: for the rollback case above. */
function drainedPair(policy: Policy, id: string, port: number): Policy {
  const second = id.replace('#0.', '#1.');
  const withBoth = markActive(claimStart(policy, 'lobby', [np(id, port), np(second, port + 1)], OWNER, T1), 'lobby', [id, second], T1);
  return drain(withBoth, 'lobby', '1.1.0', T1, MIN30);
}

describe('every single-process transition from every state', () => {
  const R = 'refused';
  // For each transition, what a 1.9.0 process (neither target nor canary) in each state becomes; R: invalid_transition.
  const table: Array<[string, (p: Policy, id: string) => Policy, Record<ProcessState, ProcessState | typeof R>]> = [
    ['markActive', (p, id) => markActive(p, 'lobby', [id], T1), { starting: 'active', active: 'active', draining: R, stopping: R, retired: R, failed: R }],
    ['markFailed', (p, id) => markFailed(p, 'lobby', [id], T1), { starting: 'failed', active: R, draining: R, stopping: R, retired: R, failed: 'failed' }],
    ['reactivate', (p, id) => reactivate(p, 'lobby', [id], T1), { starting: R, active: 'active', draining: 'active', stopping: R, retired: R, failed: R }],
    ['claimStop drained', (p, id) => claimStop(p, 'lobby', [id], stop('drained')), { starting: R, active: R, draining: 'stopping', stopping: R, retired: R, failed: R }],
    ['claimStop deadline', (p, id) => claimStop(p, 'lobby', [id], stop('deadline')), { starting: R, active: R, draining: 'stopping', stopping: R, retired: R, failed: R }],
    ['claimStop now', (p, id) => claimStop(p, 'lobby', [id], stop('now')), { starting: R, active: R, draining: 'stopping', stopping: R, retired: R, failed: R }],
    ['claimStop lost', (p, id) => claimStop(p, 'lobby', [id], stop('lost')), { starting: R, active: 'stopping', draining: 'stopping', stopping: R, retired: R, failed: R }],
    ['takeOver', (p, id) => takeOver(p, 'lobby', [id], OWNER), { starting: 'starting', active: R, draining: R, stopping: 'stopping', retired: R, failed: R }],
    ['retire', (p, id) => retire(p, 'lobby', [id], T1), { starting: R, active: R, draining: R, stopping: 'retired', retired: 'retired', failed: R }],
  ];
  const cases = table.flatMap(([name, run, outcomes]) => EVERY_STATE.map((from, i) => [name, from, outcomes[from], run, `lobby@1.9.0#${i}`] as const));

  it.each(cases)('%s from %s → %s', (_name, _from, expected, run, id) => {
    const input = everyState();
    if (expected === R) {
      const error = refusal(() => run(input, id));
      expect({ code: error.code, kind: error.kind }).toEqual({ code: 'invalid_transition', kind: 'failed' });
      return;
    }
    const next = run(input, id);
    expect(states(next)[id]).toBe(expected);
    // Nothing else moved.
    expect({ ...states(next), [id]: 'x' }).toEqual({ ...states(input), [id]: 'x' });
    if (expected === 'starting' || expected === 'stopping') expect(entry(next, id)?.owner).toEqual(OWNER);
    else expect(entry(next, id)?.owner).toBeUndefined();
  });
});

describe('transitions that refuse', () => {
  it.each<[string, Run, string, ErrorKind]>([
    ['claimStart: bad service name', (p) => claimStart(p, 'lob by', [np('lobby@1.8.0#0', 7510)], OWNER, T1), 'invalid_service', 'usage'],
    ['claimStart: bad version', (p) => claimStart(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), version: 'v1.8.0' }], OWNER, T1), 'invalid_version', 'usage'],
    ['claimStart: id of an active process', (p) => claimStart(p, 'lobby', [np('lobby@1.5.0#0', 7510)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: id of a retired process', (p) => claimStart(p, 'lobby', [np('lobby@1.3.0#0', 7510)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: id of a failed process', (p) => claimStart(p, 'lobby', [np('lobby@1.2.0#0', 7510)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: id of a stopping process', (p) => claimStart(p, 'lobby', [np('lobby@1.1.0#0', 7510)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: id of a draining process', (p) => claimStart(p, 'lobby', [np('lobby@1.4.0#0', 7510)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: same id twice in one batch', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7510), np('lobby@1.8.0#0', 7511)], OWNER, T1), 'duplicate_process', 'conflict'],
    ['claimStart: port of an active process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7501)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: port of a draining process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7500)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: port of a starting process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7504)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: port of a stopping process', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7497)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: port of another service', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7600)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: same port twice in one batch', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7510), np('lobby@1.8.0#1', 7510)], OWNER, T1), 'port_in_use', 'conflict'],
    ['claimStart: id of another service', (p) => claimStart(p, 'lobby', [np('chat@1.8.0#0', 7510)], OWNER, T1), 'invalid_process', 'usage'],
    ['claimStart: id of another version', (p) => claimStart(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), version: '1.9.0' }], OWNER, T1), 'invalid_process', 'usage'],
    ['claimStart: bad incarnation', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0.G42', 7510)], OWNER, T1), 'invalid_process', 'usage'],
    ['claimStart: port out of range', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 70000)], OWNER, T1), 'invalid_process', 'usage'],
    ['claimStart: bad address', (p) => claimStart(p, 'lobby', [{ ...np('lobby@1.8.0#0', 7510), address: 'a b' }], OWNER, T1), 'invalid_process', 'usage'],
    ['claimStart: bad host', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7510, 'bad host')], OWNER, T1), 'invalid_host', 'usage'],
    ['claimStart: nothing to add', (p) => claimStart(p, 'lobby', [], OWNER, T1), 'no_processes', 'usage'],
    ['claimStart: invalid date', (p) => claimStart(p, 'lobby', [np('lobby@1.8.0#0', 7510)], OWNER, new Date('nope')), 'invalid_time', 'failed'],
    ['markActive: unknown id', (p) => markActive(p, 'lobby', ['lobby@9.9.9#0'], T1), 'unknown_process', 'usage'],
    ['markActive: unknown service', (p) => markActive(p, 'nope', ['nope@1.0.0#0'], T1), 'unknown_service', 'usage'],
    ['markActive: retired process', (p) => markActive(p, 'lobby', ['lobby@1.3.0#0'], T1), 'invalid_transition', 'failed'],
    ['markActive: draining process', (p) => markActive(p, 'lobby', ['lobby@1.4.0#0'], T1), 'invalid_transition', 'failed'],
    ['markActive: stopping process', (p) => markActive(p, 'lobby', ['lobby@1.1.0#0'], T1), 'invalid_transition', 'failed'],
    ['markActive: no ids', (p) => markActive(p, 'lobby', [], T1), 'no_processes', 'usage'],
    ['markFailed: active process', (p) => markFailed(p, 'lobby', ['lobby@1.6.0#0'], T1), 'invalid_transition', 'failed'],
    ['markFailed: stopping process', (p) => markFailed(p, 'lobby', ['lobby@1.1.0#0'], T1), 'invalid_transition', 'failed'],
    ['reactivate: a stopping process is never brought back', (p) => reactivate(p, 'lobby', ['lobby@1.1.0#0'], T1), 'invalid_transition', 'failed'],
    ['reactivate: retired process', (p) => reactivate(p, 'lobby', ['lobby@1.3.0#0'], T1), 'invalid_transition', 'failed'],
    ['claimStop: active process (not lost)', (p) => claimStop(p, 'lobby', ['lobby@1.6.0#0'], stop('drained')), 'invalid_transition', 'failed'],
    ['claimStop: active process past a deadline', (p) => claimStop(p, 'lobby', ['lobby@1.6.0#0'], stop('deadline')), 'invalid_transition', 'failed'],
    ['claimStop: active process, drain --now', (p) => claimStop(p, 'lobby', ['lobby@1.6.0#0'], stop('now')), 'invalid_transition', 'failed'],
    ['claimStop: starting process, even lost', (p) => claimStop(p, 'lobby', ['lobby@1.7.0#0'], stop('lost')), 'invalid_transition', 'failed'],
    ['claimStop: a stopping process again', (p) => claimStop(p, 'lobby', ['lobby@1.1.0#0'], stop('drained')), 'invalid_transition', 'failed'],
    ['claimStop: retired process', (p) => claimStop(p, 'lobby', ['lobby@1.3.0#0'], stop('lost')), 'invalid_transition', 'failed'],
    ['claimStop: stale expectSince', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained', { expectSince: { 'lobby@1.4.0#0': '2026-11-25T08:00:00.000Z' } })), 'stale_decision', 'conflict'],
    ['claimStop: expectSince of a process never seen with a since', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#0'], stop('drained', { expectSince: { 'lobby@1.4.0#0': undefined } })), 'stale_decision', 'conflict'],
    ['claimStop: a draining process of the target', () => claimStop(servingDrained(), 'lobby', ['lobby@1.5.0#1'], stop('drained')), 'stops_serving_version', 'usage'],
    ['claimStop: a draining process of the target at its deadline', () => claimStop(servingDrained(), 'lobby', ['lobby@1.5.0#1'], stop('deadline')), 'stops_serving_version', 'usage'],
    ['claimStop: a draining process of the canary', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#1'], stop('drained')), 'stops_serving_version', 'usage'],
    ['claimStop: drain --now of the canary', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#1'], stop('now')), 'stops_serving_version', 'usage'],
    ['claimStop lost: the last target process', () => claimStop(lonely(), 'lobby', ['lobby@1.5.0#0'], stop('lost')), 'stops_serving_version', 'usage'],
    ['claimStop lost: every target process at once', (p) => claimStop(p, 'lobby', ['lobby@1.5.0#0', 'lobby@1.5.0#1'], stop('lost')), 'stops_serving_version', 'usage'],
    ['claimStop lost: every canary process at once', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#0', 'lobby@1.4.0#1'], stop('lost')), 'stops_serving_version', 'usage'],
    ['claimStop lost: the canary process whose sibling only drains', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#0'], stop('lost')), 'stops_serving_version', 'usage'],
    ['claimStop: unknown id', (p) => claimStop(p, 'lobby', ['lobby@1.4.0#9'], stop('drained')), 'unknown_process', 'usage'],
    ['claimStop: no ids', (p) => claimStop(p, 'lobby', [], stop('drained')), 'no_processes', 'usage'],
    ['takeOver: active process', (p) => takeOver(p, 'lobby', ['lobby@1.6.0#0'], OWNER), 'invalid_transition', 'failed'],
    ['takeOver: draining process', (p) => takeOver(p, 'lobby', ['lobby@1.4.0#0'], OWNER), 'invalid_transition', 'failed'],
    ['takeOver: retired process', (p) => takeOver(p, 'lobby', ['lobby@1.3.0#0'], OWNER), 'invalid_transition', 'failed'],
    ['retire: an active process', (p) => retire(p, 'lobby', ['lobby@1.6.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: the last target process', () => retire(lonely(), 'lobby', ['lobby@1.5.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: a draining process (its stop not claimed)', (p) => retire(p, 'lobby', ['lobby@1.4.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: a starting process', (p) => retire(p, 'lobby', ['lobby@1.7.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: a failed process', (p) => retire(p, 'lobby', ['lobby@1.2.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: stopping with a draining one in the same batch', (p) => retire(p, 'lobby', ['lobby@1.1.0#0', 'lobby@1.4.0#0'], T1), 'invalid_transition', 'failed'],
    ['retire: unknown id', (p) => retire(p, 'lobby', ['lobby@1.5.0#9'], T1), 'unknown_process', 'usage'],
    ['promote: unknown version', (p) => promote(p, 'lobby', '9.9.9', T1, MIN30), 'unknown_version', 'usage'],
    ['promote: only starting', (p) => promote(p, 'lobby', '1.7.0', T1, MIN30), 'no_active_process', 'usage'],
    ['promote: only draining', (p) => promote(p, 'lobby', '1.4.0', T1, MIN30), 'no_active_process', 'usage'],
    ['promote: only stopping', (p) => promote(p, 'lobby', '1.1.0', T1, MIN30), 'no_active_process', 'usage'],
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
    ['setCanary: only stopping', (p) => setCanary(p, 'lobby', { version: '1.1.0', weight: 10 }), 'no_active_process', 'usage'],
    ['setCanary: unknown version', (p) => setCanary(p, 'lobby', { version: '9.9.9', weight: 10 }), 'unknown_version', 'usage'],
    ['setCanary: no target yet', () => setCanary(noTarget(), 'pay', { version: '1.0.0', weight: 10 }), 'no_target', 'usage'],
    ['drain: the target', (p) => drain(p, 'lobby', '1.5.0', T1, MIN30), 'drain_target', 'usage'],
    ['drain: unknown version', (p) => drain(p, 'lobby', '9.9.9', T1, MIN30), 'unknown_version', 'usage'],
    ['drain: only retired', (p) => drain(p, 'lobby', '1.3.0', T1, MIN30), 'not_serving', 'usage'],
    ['drain: only starting', (p) => drain(p, 'lobby', '1.7.0', T1, MIN30), 'not_serving', 'usage'],
    ['drain: only stopping', (p) => drain(p, 'lobby', '1.1.0', T1, MIN30), 'not_serving', 'usage'],
    ['rollback: to the target', (p) => rollback(p, 'lobby', '1.5.0', T1, MIN30), 'already_target', 'usage'],
    ['rollback: only stopping', (p) => rollback(p, 'lobby', '1.1.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: all retired', (p) => rollback(p, 'lobby', '1.3.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: only failed', (p) => rollback(p, 'lobby', '1.2.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: only starting', (p) => rollback(p, 'lobby', '1.7.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: no entry at all', (p) => rollback(p, 'lobby', '1.0.0', T1, MIN30), 'needs_restart', 'failed'],
    ['rollback: bad version', (p) => rollback(p, 'lobby', '1.4', T1, MIN30), 'invalid_version', 'usage'],
  ])('%s → %s', (_label, run, code, kind) => {
    const input = fleet();
    const snapshot = structuredClone(input);
    const error = refusal(() => run(input));
    expect({ code: error.code, kind: error.kind }).toEqual({ code, kind });
    expect(input).toEqual(snapshot);
  });

  it('needs_restart names the stopping processes, so the caller starts new incarnations', () => {
    expect(refusal(() => rollback(fleet(), 'lobby', '1.1.0', T1, MIN30)).details).toMatchObject({ ids: ['lobby@1.1.0#0'] });
  });
});

describe('messages say what to do', () => {
  const message = (run: () => unknown): string => refusal(run).message;

  it.each<[string, () => unknown, RegExp]>([
    ['unknown service lists the known ones', () => servicePolicy(fleet(), 'nope'), /known services: chat, lobby/],
    ['unknown version says deploy first', () => promote(fleet(), 'lobby', '9.9.9', T1, MIN30), /deploy 9\.9\.9 first/],
    ['draining version points at rollback', () => promote(fleet(), 'lobby', '1.4.0', T1, MIN30), /switchyard rollback --to 1\.4\.0/],
    ['drain target says promote first', () => drain(fleet(), 'lobby', '1.5.0', T1, MIN30), /promote another version or roll back before draining 1\.5\.0/],
    ['needs_restart says start again', () => rollback(fleet(), 'lobby', '1.3.0', T1, MIN30), /started again/],
    ['needs_restart counts the stopping process', () => rollback(fleet(), 'lobby', '1.1.0', T1, MIN30), /1 stopping/],
    ['port_in_use names the holder', () => claimStart(fleet(), 'lobby', [np('lobby@1.8.0#0', 7600)], OWNER, T1), /chat@2\.0\.0#0/],
    ['duplicate_process says ids are never reused', () => claimStart(fleet(), 'lobby', [np('lobby@1.3.0#0', 7510)], OWNER, T1), /never reused/],
    ['retire of a draining process says its stop comes first', () => retire(fleet(), 'lobby', ['lobby@1.4.0#0'], T1), /only a stopping process/],
    ['stopping the target says promote or roll back', () => claimStop(servingDrained(), 'lobby', ['lobby@1.5.0#1'], stop('drained')), /target of lobby.*promote or roll back/],
    ['stopping the canary names it', () => claimStop(servingDrained(), 'lobby', ['lobby@1.4.0#1'], stop('drained')), /canary of lobby/],
    ['a lost last process says none other is live', () => claimStop(lonely(), 'lobby', ['lobby@1.5.0#0'], stop('lost')), /no other live process/],
    ['a stale decision says it looks again', () => claimStop(fleet(), 'lobby', ['lobby@1.4.0#0'], stop('drained', { expectSince: { 'lobby@1.4.0#0': NOW } })), /changed .* after the decision/],
    ['empty policy says deploy one', () => servicePolicy(policyOf({}), 'lobby'), /no services yet/],
  ])('%s', (_label, run, pattern) => {
    expect(message(run)).toMatch(pattern);
  });
});

describe('queries', () => {
  it.each<[string, readonly ('active' | 'draining' | 'starting' | 'stopping')[] | undefined, string[]]>([
    ['1.5.0', undefined, ['lobby@1.5.0#0', 'lobby@1.5.0#1']],
    ['1.5.0', ['draining'], []],
    ['1.4.0', ['active', 'draining'], ['lobby@1.4.0#0']],
    ['1.1.0', ['stopping'], ['lobby@1.1.0#0']],
    ['9.9.9', undefined, []],
  ])('processesOf lobby %s in %j', (version, wanted, ids) => {
    expect(processesOf(fleet(), 'lobby', version, wanted).map((p) => p.id)).toEqual(ids);
  });

  it('versionsByState groups versions newest first', () => {
    const withSplit = claimStart(fleet(), 'lobby', [np('lobby@1.10.0#0.g8', 7520)], OWNER, T1);
    expect(versionsByState(withSplit.services.lobby!)).toEqual({
      starting: ['1.10.0', '1.7.0'],
      active: ['1.6.0', '1.5.0'],
      draining: ['1.4.0'],
      stopping: ['1.1.0'],
      retired: ['1.3.0'],
      failed: ['1.2.0'],
    });
  });

  it('servicePolicy is not fooled by Object.prototype names', () => {
    expect(() => servicePolicy(fleet(), 'constructor')).toThrow(/no service "constructor"/);
  });
});
