import { describe, expect, it } from 'vitest';
import { planReconcile, seenKey, type HeartbeatFacts, type HostObservation, type ReconcilePlan } from '../../src/core/plan-reconcile.js';
import type { Regression } from '../../src/core/regression.js';
import type { Policy, ProcessEntry, ProcessState } from '../../src/core/policy-schema.js';
import type { Owner } from '../../src/core/policy-transitions.js';
import { EARLIER, T1, policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * The pure reconcile planner, one case a line: a policy, what PM2 says per
 * host, heartbeat facts and owner liveness in; the claims and actions out,
 * as short lines (`claimStop <id> <reason> <terminals>`, `stop <id>`, …).
 */

const NOW_MS = T1.getTime();
const PAST = '2026-11-25T10:30:00.000Z';
const FUTURE = '2026-11-25T12:00:00.000Z';
const SELF: Owner = { id: 'router-self' };
const OTHER: Owner = { id: 'deploy-alive', until: FUTURE };
const DEAD: Owner = { id: 'deploy-dead', pid: 4242, until: FUTURE };
const EXPIRED: Owner = { id: 'deploy-expired', until: PAST };
const UNSURE: Owner = { id: 'deploy-remote' };
const ALIVE: Record<string, boolean | undefined> = { 'deploy-alive': true, 'deploy-dead': false, 'deploy-expired': undefined, 'deploy-remote': undefined, 'router-idle': false };

const TARGET = proc('lobby@1.5.0#0', 'active', 7501);
const OLD = 'lobby@1.4.0#0';
const draining = (extra: Partial<ProcessEntry> = {}) => proc(OLD, 'draining', 7500, { drainDeadline: FUTURE, ...extra });
const claim = (state: ProcessState, owner: Owner | undefined, id = 'lobby@1.9.0#0.g9') => proc(id, state, 7509, owner === undefined ? {} : { owner });
/** lobby with target 1.5.0 (one active process, online) and `more`. */
const lobby = (more: ProcessEntry[], canary: string | null = null) =>
  policyOf({ lobby: service('1.5.0', [TARGET, ...more], canary === null ? {} : { canary: { version: canary, weight: 10 } }) });

type Pm2 = Record<string, string>;
interface Case {
  policy: Policy;
  /** PM2's list per host; by default every live process of the policy, online. `null`: the host cannot be asked. */
  pm2?: Record<string, Pm2 | null>;
  /** Heartbeat facts per process; unspecified fields are fresh and empty. */
  facts?: Record<string, Partial<HeartbeatFacts>>;
  grace?: number;
  nowMs?: number;
  /** How long this loop has watched each claim or drain, by process id (default: since long ago). */
  seen?: Record<string, number>;
  regression?: Regression;
  /** This loop's identity (default SELF). */
  self?: Owner;
}

/** Every live process of the policy, online, with `changes` on top (status '' drops the process). */
function online(policy: Policy, changes: Pm2 = {}): Record<string, Pm2> {
  const out: Record<string, Pm2> = {};
  for (const svc of Object.values(policy.services)) {
    for (const p of svc.processes) if (p.state !== 'retired' && p.state !== 'failed') (out[p.host] ??= {})[p.id] = 'online';
  }
  for (const [id, status] of Object.entries(changes)) {
    const host = Object.values(policy.services).flatMap((s) => s.processes).find((p) => p.id === id)?.host ?? 'local';
    if (status === '') delete out[host]?.[id];
    else (out[host] ??= {})[id] = status;
  }
  return out;
}

function plan(c: Case): ReconcilePlan {
  const pm2 = c.pm2 ?? online(c.policy);
  const observed = new Map<string, HostObservation>(
    Object.entries(pm2).map(([host, list]) => [host, list === null ? undefined : new Map(Object.entries(list).map(([id, status]) => [id, { status }]))]),
  );
  const all = Object.values(c.policy.services).flatMap((s) => s.processes);
  return planReconcile({
    policy: c.policy,
    observed,
    facts: new Map(Object.entries(c.facts ?? {}).map(([id, f]) => [id, { zeroStreak: 0, stale: false, terminals: 0, ...f }])),
    grace: { lobby: c.grace ?? 2, chat: c.grace ?? 2 },
    nowMs: c.nowMs ?? NOW_MS,
    seen: new Map(all.map((p) => [seenKey(p), c.seen?.[p.id] ?? Number.POSITIVE_INFINITY])),
    self: c.self ?? SELF,
    owners: new Map(Object.entries(ALIVE)),
    regression: c.regression,
  });
}

function lines(p: ReconcilePlan): string[] {
  return [
    ...p.claimStops.map((d) => `claimStop ${d.id} ${d.reason} ${d.terminals}`),
    ...p.takeOvers.map((r) => `takeOver ${r.id}`),
    ...p.stops.map((r) => `stop ${r.id}`),
    ...p.retires.map((r) => `retire ${r.id}`),
    ...p.abandons.map((r) => `abandon ${r.id}`),
    ...p.deletes.map((r) => `delete ${r.id}`),
    ...p.missing.map((m) => `missing ${m.id} ${m.pm2}${m.takesLogins ? ' takesLogins' : ''}`),
    ...p.orphans.map((o) => `orphan ${o.host} ${o.id}`),
    ...p.replacements.map((r) => `replace ${r.version} ${r.host} ${r.lost.join(',')}`),
    ...(p.held === undefined ? [] : [`held ${p.held.count}`]),
  ];
}

const withPm2 = (policy: Policy, changes: Pm2): Case => ({ policy, pm2: online(policy, changes) });

describe('planReconcile', () => {
  it.each<[string, Case, string[]]>([
    // Draining: drained, stale, deadline.
    ['nothing to do on a quiet fleet', { policy: lobby([draining()]) }, []],
    ['drained after grace', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 2 } } }, [`claimStop ${OLD} drained 0`]],
    ['drained well past grace', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 9 } }, grace: 3 }, [`claimStop ${OLD} drained 0`]],
    ['one interval short of grace', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 1 } } }, []],
    ['terminals still connected', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 0, terminals: 3 } } }, []],
    ['stale never counts as zero', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 5, stale: true } } }, []],
    ['stale with grace 1 still waits', { policy: lobby([draining()]), facts: { [OLD]: { zeroStreak: 1, stale: true } }, grace: 1 }, []],
    ['deadline passed with terminals', { policy: lobby([draining({ drainDeadline: PAST })]), facts: { [OLD]: { terminals: 3 } } }, [`claimStop ${OLD} deadline 3`]],
    ['deadline passed while stale', { policy: lobby([draining({ drainDeadline: PAST })]), facts: { [OLD]: { stale: true, terminals: 2 } } }, [`claimStop ${OLD} deadline 2`]],
    ['deadline reached this very instant', { policy: lobby([draining({ drainDeadline: T1.toISOString() })]), facts: { [OLD]: { terminals: 1 } } }, [`claimStop ${OLD} deadline 1`]],
    ['deadline not reached yet', { policy: lobby([draining()]), facts: { [OLD]: { terminals: 1 } }, nowMs: Date.parse(FUTURE) - 1 }, []],
    ['drained beats the deadline', { policy: lobby([draining({ drainDeadline: PAST })]), facts: { [OLD]: { zeroStreak: 2 } } }, [`claimStop ${OLD} drained 0`]],
    ['no deadline at all waits', { policy: lobby([draining({ drainDeadline: undefined })]), facts: { [OLD]: { stale: true } } }, []],
    // Lost from PM2.
    ['lost: draining and PM2 lacks it', withPm2(lobby([draining()]), { [OLD]: '' }), [`claimStop ${OLD} lost 0`, `missing ${OLD} missing`]],
    ['lost: draining and errored', withPm2(lobby([draining()]), { [OLD]: 'errored' }), [`claimStop ${OLD} lost 0`, `missing ${OLD} errored`]],
    ['lost: draining and stopped', withPm2(lobby([draining()]), { [OLD]: 'stopped' }), [`claimStop ${OLD} lost 0`, `missing ${OLD} stopped`]],
    ['lost keeps the terminals it last reported', { ...withPm2(lobby([draining()]), { [OLD]: '' }), facts: { [OLD]: { terminals: 4, stale: true } } }, [`claimStop ${OLD} lost 4`, `missing ${OLD} missing`]],
    ['launching is not lost, but down for routing', withPm2(lobby([draining()]), { [OLD]: 'launching' }), [`missing ${OLD} launching`]],
    ['a crash loop (waiting restart) is not lost, but down for routing', withPm2(lobby([draining()]), { [OLD]: 'waiting restart' }), [`missing ${OLD} waiting restart`]],
    // A host PM2 cannot be asked about.
    ['unknown host: nothing claimed', { policy: lobby([draining({ drainDeadline: PAST }), claim('stopping', SELF), claim('stopping', DEAD, 'lobby@1.9.0#1'), claim('failed', undefined, 'lobby@1.2.0#0')]), pm2: { local: null }, facts: { [OLD]: { zeroStreak: 9 } } }, []],
    ['unknown host: an active process is not called missing', { policy: lobby([proc('lobby@1.6.0#0', 'active', 7503)]), pm2: { local: null } }, []],
    ['a host absent from the observation is unknown too', { policy: lobby([draining({ drainDeadline: PAST, host: 'edge-1' })]), pm2: { local: { 'lobby@1.5.0#0': 'online' } } }, []],
    ['unknown host: a start whose owner died is still abandoned', { policy: lobby([claim('starting', DEAD)]), pm2: { local: null } }, ['abandon lobby@1.9.0#0.g9']],
    ['one host unknown, the other acted on', { policy: lobby([draining({ drainDeadline: PAST, host: 'edge-1' }), proc('lobby@1.3.0#0', 'draining', 7502, { drainDeadline: PAST })]), pm2: { local: { 'lobby@1.5.0#0': 'online', 'lobby@1.3.0#0': 'online' }, 'edge-1': null } }, ['claimStop lobby@1.3.0#0 deadline 0']],
    // Stopping claims.
    ['stopping owned by self and in PM2: stop it', { policy: lobby([claim('stopping', SELF)]) }, ['stop lobby@1.9.0#0.g9']],
    ['stopping owned by self and errored: stop it', withPm2(lobby([claim('stopping', SELF)]), { 'lobby@1.9.0#0.g9': 'errored' }), ['stop lobby@1.9.0#0.g9']],
    ['stopping gone from PM2: retire it', withPm2(lobby([claim('stopping', SELF)]), { 'lobby@1.9.0#0.g9': '' }), ['retire lobby@1.9.0#0.g9']],
    ['stopping of another owner gone from PM2: retire it', withPm2(lobby([claim('stopping', OTHER)]), { 'lobby@1.9.0#0.g9': '' }), ['retire lobby@1.9.0#0.g9']],
    ['stopping of a live owner in its lease: leave it', { policy: lobby([claim('stopping', OTHER)]) }, []],
    ['stopping of a dead owner: take it over', { policy: lobby([claim('stopping', DEAD)]) }, ['takeOver lobby@1.9.0#0.g9']],
    ['stopping of an expired owner: take it over', { policy: lobby([claim('stopping', EXPIRED)]) }, ['takeOver lobby@1.9.0#0.g9']],
    ['stopping without an owner: take it over', { policy: lobby([claim('stopping', undefined)]) }, ['takeOver lobby@1.9.0#0.g9']],
    ['stopping of an owner that cannot be told, no lease: leave it', { policy: lobby([claim('stopping', UNSURE)]) }, []],
    ['starting of self while a replacement works on it: left', { policy: lobby([claim('starting', SELF)]) }, []],
    ['starting of self that no replacement works on: abandoned', { policy: lobby([claim('starting', { ...SELF, id: 'router-idle' })]), self: { id: 'router-idle' } }, ['abandon lobby@1.9.0#0.g9']],
    ['stopping of self past its own lease: still self', { policy: lobby([claim('stopping', { ...SELF, until: PAST })]) }, ['stop lobby@1.9.0#0.g9']],
    // Starting claims.
    ['starting of a dead owner: abandon it', { policy: lobby([claim('starting', DEAD)]) }, ['abandon lobby@1.9.0#0.g9']],
    ['starting past its until: abandon it', { policy: lobby([claim('starting', EXPIRED)]) }, ['abandon lobby@1.9.0#0.g9']],
    ['starting without an owner: abandon it', { policy: lobby([claim('starting', undefined)]) }, ['abandon lobby@1.9.0#0.g9']],
    ['starting of a live owner, not in PM2 yet: leave it', withPm2(lobby([claim('starting', OTHER)]), { 'lobby@1.9.0#0.g9': '' }), []],
    ['starting of a live owner, errored: leave it to the owner', withPm2(lobby([claim('starting', OTHER)]), { 'lobby@1.9.0#0.g9': 'errored' }), []],
    ['starting of an owner that cannot be told, no lease: leave it', { policy: lobby([claim('starting', UNSURE)]) }, []],
    // Failed and retired entries whose process still runs.
    ['failed still in PM2: delete it', withPm2(lobby([claim('failed', undefined)]), { 'lobby@1.9.0#0.g9': 'online' }), ['delete lobby@1.9.0#0.g9']],
    ['retired still in PM2: delete it', withPm2(lobby([claim('retired', undefined)]), { 'lobby@1.9.0#0.g9': 'stopped' }), ['delete lobby@1.9.0#0.g9']],
    ['failed and gone: nothing', { policy: lobby([claim('failed', undefined)]) }, []],
    ['retired and gone: nothing', { policy: lobby([claim('retired', undefined)]) }, []],
    // Active processes PM2 lacks.
    ['active target missing: replaced', withPm2(lobby([]), { 'lobby@1.5.0#0': '' }), ['missing lobby@1.5.0#0 missing takesLogins', 'replace 1.5.0 local lobby@1.5.0#0']],
    ['active target errored: replaced', withPm2(lobby([]), { 'lobby@1.5.0#0': 'errored' }), ['missing lobby@1.5.0#0 errored takesLogins', 'replace 1.5.0 local lobby@1.5.0#0']],
    ['active target restarting (launching): not replaced, PM2 brings it back', withPm2(lobby([]), { 'lobby@1.5.0#0': 'launching' }), ['missing lobby@1.5.0#0 launching takesLogins']],
    ['lost while a deploy of its version starts there: left to the deploy', withPm2(lobby([claim('starting', OTHER, 'lobby@1.5.0#1.g9')]), { 'lobby@1.5.0#0': '' }), ['missing lobby@1.5.0#0 missing takesLogins']],
    ['two lost on one host: replaced together', withPm2(lobby([proc('lobby@1.5.0#1', 'active', 7502)]), { 'lobby@1.5.0#0': '', 'lobby@1.5.0#1': 'stopped' }), ['missing lobby@1.5.0#0 missing takesLogins', 'missing lobby@1.5.0#1 stopped takesLogins', 'replace 1.5.0 local lobby@1.5.0#0,lobby@1.5.0#1']],
    ['active canary missing: replaced', withPm2(lobby([proc('lobby@1.6.0#0', 'active', 7503)], '1.6.0'), { 'lobby@1.6.0#0': '' }), ['missing lobby@1.6.0#0 missing takesLogins', 'replace 1.6.0 local lobby@1.6.0#0']],
    ['regressed: no replacement either', { ...withPm2(lobby([]), { 'lobby@1.5.0#0': '' }), regression: { head: 7, highest: 9, evidence: 'test' } }, ['missing lobby@1.5.0#0 missing takesLogins', 'held 1']],
    ['active non-target stopped', withPm2(lobby([proc('lobby@1.6.0#0', 'active', 7503)]), { 'lobby@1.6.0#0': 'stopped' }), ['missing lobby@1.6.0#0 stopped']],
    ['active and online: nothing', { policy: lobby([proc('lobby@1.6.0#0', 'active', 7503)]) }, []],
    // Times another machine wrote are judged on this loop's own clock.
    ['a deadline past by the wall clock, but watched for a minute only: not yet', { policy: lobby([draining({ drainDeadline: PAST })]), facts: { [OLD]: { terminals: 1 } }, seen: { [OLD]: 60_000 } }, []],
    ['a deadline past by both clocks', { policy: lobby([draining({ drainDeadline: PAST })]), facts: { [OLD]: { terminals: 1 } }, seen: { [OLD]: 2 * 3600_000 } }, [`claimStop ${OLD} deadline 1`]],
    ['a deadline the own clock has passed, not the wall clock: not yet', { policy: lobby([draining()]), facts: { [OLD]: { terminals: 1 } }, nowMs: Date.parse(FUTURE) - 1 }, []],
    ['an unsure owner\'s stop claim watched less than its lease: left', { policy: lobby([claim('stopping', { id: 'deploy-remote', leaseMs: 60_000 })]), seen: { 'lobby@1.9.0#0.g9': 59_000 } }, []],
    ['an unsure owner\'s stop claim watched past its lease: taken over', { policy: lobby([claim('stopping', { id: 'deploy-remote', leaseMs: 60_000 })]), seen: { 'lobby@1.9.0#0.g9': 61_000 } }, ['takeOver lobby@1.9.0#0.g9']],
    ['an unsure owner\'s start past until by its clock, watched briefly: left', { policy: lobby([claim('starting', EXPIRED)]), seen: { 'lobby@1.9.0#0.g9': 1000 } }, []],
    ['a live owner past its until keeps its claim', { policy: lobby([claim('starting', { ...OTHER, until: PAST, leaseMs: 1 })]) }, []],
    // The target serves nowhere: a drained version is kept for a rollback; a deadline still applies.
    ['drained while the target is missing: kept', { ...withPm2(lobby([draining()]), { 'lobby@1.5.0#0': '' }), facts: { [OLD]: { zeroStreak: 5 } } }, ['missing lobby@1.5.0#0 missing takesLogins', 'replace 1.5.0 local lobby@1.5.0#0']],
    ['past the deadline while the target is missing: stopped', { ...withPm2(lobby([draining({ drainDeadline: PAST })]), { 'lobby@1.5.0#0': '' }), facts: { [OLD]: { terminals: 2 } } }, [`claimStop ${OLD} deadline 2`, 'missing lobby@1.5.0#0 missing takesLogins', 'replace 1.5.0 local lobby@1.5.0#0']],
    // A head that went back: nothing destructive until an operator acknowledges it.
    ['regressed: stops, takeovers and deletes held', { ...withPm2(lobby([draining({ drainDeadline: PAST }), claim('stopping', DEAD), claim('failed', undefined, 'lobby@1.2.0#0')]), { 'lobby@1.2.0#0': 'online' }), facts: { [OLD]: { zeroStreak: 9 } }, regression: { head: 7, highest: 9, evidence: 'test' } }, ['held 3']],
    ['regressed: abandoned starts and retires still recorded', { ...withPm2(lobby([claim('starting', DEAD), claim('stopping', SELF, 'lobby@1.9.0#1')]), { 'lobby@1.9.0#1': '' }), regression: { head: 7, highest: 9, evidence: 'test' } }, ['retire lobby@1.9.0#1', 'abandon lobby@1.9.0#0.g9']],
    // A failed or retired process still running is deleted only once no terminal is on it (by its last heartbeat).
    ['failed and running with terminals on it: kept', { ...withPm2(lobby([claim('failed', undefined, 'lobby@1.2.0#0')]), { 'lobby@1.2.0#0': 'online' }), facts: { 'lobby@1.2.0#0': { terminals: 2 } } }, []],
    ['failed, running, its heartbeats stopped with terminals on it: kept', { ...withPm2(lobby([claim('failed', undefined, 'lobby@1.2.0#0')]), { 'lobby@1.2.0#0': 'online' }), facts: { 'lobby@1.2.0#0': { terminals: 1, stale: true } } }, []],
    ['failed and running, its terminals gone: deleted', { ...withPm2(lobby([claim('failed', undefined, 'lobby@1.2.0#0')]), { 'lobby@1.2.0#0': 'online' }), facts: { 'lobby@1.2.0#0': { terminals: 0 } } }, ['delete lobby@1.2.0#0']],
    ['failed, errored in PM2, terminals by its last heartbeat: deleted (it holds nobody)', { ...withPm2(lobby([claim('failed', undefined, 'lobby@1.2.0#0')]), { 'lobby@1.2.0#0': 'errored' }), facts: { 'lobby@1.2.0#0': { terminals: 3 } } }, ['delete lobby@1.2.0#0']],
    // PM2 processes the policy does not name.
    ['an orphan of a policy service', withPm2(lobby([]), { 'lobby@1.9.0#0.g9': 'online' }), ['orphan local lobby@1.9.0#0.g9']],
    ['an old name of a policy service', withPm2(lobby([]), { 'lobby@1.0.0#0': 'stopped' }), ['orphan local lobby@1.0.0#0']],
    ['a process of another service is not ours', withPm2(lobby([]), { 'chat@1.0.0#0': 'online' }), []],
    ['a process not named like ours is not ours', withPm2(lobby([]), { 'pm2-logrotate': 'online', 'switchyard-router': 'online' }), []],
  ])('%s', (_label, c, expected) => {
    expect(lines(plan(c))).toEqual(expected);
  });

  it('records the since each stop decision saw, for the compare-and-set', () => {
    const p = plan({ policy: lobby([draining({ since: EARLIER, drainDeadline: PAST })]) });
    expect(p.claimStops).toEqual([{ service: 'lobby', id: OLD, version: '1.4.0', host: 'local', reason: 'deadline', terminals: 0, since: EARLIER }]);
  });

  it('plans each service with its own grace', () => {
    const policy = policyOf({
      lobby: service('1.5.0', [TARGET, draining()]),
      chat: service('2.0.0', [proc('chat@2.0.0#0', 'active', 7600), proc('chat@1.9.0#0', 'draining', 7601, { drainDeadline: FUTURE })]),
    });
    const observed = new Map<string, HostObservation>([['local', new Map(Object.entries(online(policy).local!).map(([id, status]) => [id, { status }]))]]);
    const result = planReconcile({
      policy, observed, nowMs: NOW_MS, self: SELF, owners: new Map(), seen: new Map(),
      facts: new Map([OLD, 'chat@1.9.0#0'].map((id) => [id, { zeroStreak: 3, stale: false, terminals: 0 }])),
      grace: { lobby: 3, chat: 5 },
    });
    expect(result.claimStops.map((d) => d.id)).toEqual([OLD]);
  });

  describe('never claims the stop of a version that takes logins', () => {
    // Draining processes of the target or the canary (a hand edit, or a decision overtaken by a rollback), in every condition that stops others.
    const serving = (version: string, canary: string | null) =>
      lobby([proc(`lobby@${version}#1`, 'draining', 7502, { drainDeadline: PAST }), proc('lobby@1.4.0#0', 'active', 7503)], canary);
    it.each<[string, string, string | null, Partial<HeartbeatFacts>, string]>([
      ['target, drained', '1.5.0', null, { zeroStreak: 9 }, 'online'],
      ['target, past its deadline', '1.5.0', null, { terminals: 3 }, 'online'],
      ['target, missing in PM2', '1.5.0', null, {}, ''],
      ['target, errored', '1.5.0', null, {}, 'errored'],
      ['canary, drained', '1.4.0', '1.4.0', { zeroStreak: 9 }, 'online'],
      ['canary, past its deadline', '1.4.0', '1.4.0', { stale: true, terminals: 2 }, 'online'],
      ['canary, missing in PM2', '1.4.0', '1.4.0', {}, ''],
      ['canary, stopped', '1.4.0', '1.4.0', {}, 'stopped'],
    ])('%s', (_label, version, canary, facts, status) => {
      const policy = serving(version, canary);
      const id = `lobby@${version}#1`;
      const result = plan({ ...withPm2(policy, { [id]: status }), facts: { [id]: facts } });
      expect(result.claimStops).toEqual([]);
      expect(result.stops).toEqual([]);
    });
  });
});
