import { usageError } from './errors.js';
import type { Policy, ServicePolicy } from './policy-schema.js';
import { servicePolicy } from './policy-query.js';
import { drain, promote, setCanary } from './policy-transitions.js';
import type { RolloutStep } from './rollout-plan.js';
import { isLive, type ChangedBy, type Rollout } from './rollout-schema.js';
import { resumeRollout, startRollout, type RolloutProgress } from './rollout-step.js';
import { checkVersion } from './version.js';

/**
 * The transitions of a progressive rollout, on the policy. Pure, like
 * every transition: the input is never changed, refusals are
 * SwitchyardErrors, and the same object comes back when there is nothing
 * to do. A move of the plan names the head it was planned from (the
 * rollout's id and seq): on any other head it is dropped, so a step is
 * never committed twice, however often a commit is retried or by whom.
 */

export interface RolloutBegin {
  id: string;
  version: string;
  steps: readonly RolloutStep[];
  by: ChangedBy | null;
  now: Date;
}

/** The head a move was planned from. */
export interface RolloutExpect {
  id: string;
  seq: number;
}

/** What the plan does with one judged interval (or with a policy that moved under it). */
export type RolloutMove =
  | { kind: 'verdict' | 'advance' | 'pause' | 'abort' | 'complete'; progress: RolloutProgress }
  | { kind: 'settle'; state: 'aborted' | 'completed'; reason: string };

export type SteerVerb = 'pause' | 'resume' | 'abort' | 'promote';

const MAX_REASON = 4000;
const clip = (text: string, max = MAX_REASON) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Fields from the environment, cut to what the schema keeps. */
function storedBy(by: ChangedBy | null): ChangedBy | null {
  if (by === null) return null;
  const cut = (v: string | null, max: number) => (v === null ? null : clip(v, max));
  return by.kind === 'user'
    ? { kind: 'user', user: cut(by.user, 128), host: cut(by.host, 255) }
    : { kind: 'ci', system: clip(by.system, 64), actor: cut(by.actor, 128), run: cut(by.run, 128), repository: cut(by.repository, 256), url: cut(by.url, 1024) };
}

function withRollout(policy: Policy, service: string, rollout: Rollout): Policy {
  const next = structuredClone(policy);
  next.services[service]!.rollout = rollout;
  return next;
}

function where(r: Rollout): string {
  return `step ${r.step + 1} of ${r.steps.length} (canary ${r.steps[r.step]!.canary}%)`;
}

/**
 * Starts a rollout of `version` in the same change that makes it the
 * canary at the first step's weight. Running it already: unchanged (a
 * rerun in CI). Another live rollout, or the version being the target
 * already: refused.
 */
export function beginRollout(policy: Policy, service: string, begin: RolloutBegin): Policy {
  const version = checkVersion(begin.version);
  const svc = servicePolicy(policy, service);
  if (!mayBeginRollout(policy, service, version)) return policy;
  const first = begin.steps[0];
  if (first === undefined) throw usageError('invalid_steps', 'A rollout needs at least one step, like 10:2m,50:5m,100.');
  const next = setCanary(policy, service, { version, weight: first.canary });
  const now = begin.now.toISOString();
  return withRollout(next, service, {
    id: begin.id, version, from: svc.target, steps: begin.steps.map((s) => ({ canary: s.canary, pauseMs: s.pauseMs })),
    ...startRollout(begin.now), seq: 0, startedAt: now, by: storedBy(begin.by),
  });
}

/**
 * Whether a rollout of `version` may start on this policy: false when it
 * runs already; refused when another one is live, the version is the
 * target, or there is no target to roll out from. Asked before anything
 * is started, and again in the commit that starts it.
 */
export function mayBeginRollout(policy: Policy, service: string, version: string): boolean {
  const svc = Object.hasOwn(policy.services, service) ? policy.services[service]! : undefined;
  const live = svc?.rollout;
  if (isLive(live)) {
    if (live.version === version) return false;
    throw usageError('rollout_in_progress', `${service} is rolling out ${live.version} (${where(live)}, ${live.state}): finish it with \`switchyard rollout promote\` or stop it with \`switchyard rollout abort\` before starting another.`, { service, version: live.version });
  }
  if (svc?.target === version) throw usageError('already_target', `${version} is already the target of ${service}: there is nothing to roll out.`, { service, version });
  if (!svc?.target) throw usageError('no_target', `${service} has no target yet, so a rollout has nothing to move logins from: deploy the first version without --steps.`, { service });
  return true;
}

/** The service's rollout, when the head still shows it as `expect` says, and it is live. */
export function rolloutAt(policy: Policy, service: string, expect: RolloutExpect): Rollout | undefined {
  const r = Object.hasOwn(policy.services, service) ? policy.services[service]!.rollout : undefined;
  return isLive(r) && r.id === expect.id && r.seq === expect.seq ? r : undefined;
}

/** A version's processes that take logins or hold terminals, which a drain applies to. */
function serving(svc: ServicePolicy, version: string): boolean {
  return svc.processes.some((p) => p.version === version && (p.state === 'active' || p.state === 'draining'));
}

/** The canary goes, the target stays, the version drains (its terminals are told to change at their next login). */
function dropCanary(policy: Policy, service: string, version: string, now: Date, drainTimeoutMs: number): Policy {
  const svc = policy.services[service]!;
  let next = svc.canary?.version === version ? setCanary(policy, service, null) : policy;
  if (svc.target !== version && serving(next.services[service]!, version)) next = drain(next, service, version, now, drainTimeoutMs);
  return next;
}

/**
 * One move of the plan on the head it lands on: dropped (the same object
 * back) unless the head still holds the rollout at the seq it was planned
 * from. Advance sets the next step's canary weight, complete promotes,
 * abort removes the canary and drains the version.
 */
export function moveRollout(policy: Policy, service: string, expect: RolloutExpect, move: RolloutMove, now: Date, drainTimeoutMs: number): Policy {
  const r = rolloutAt(policy, service, expect);
  if (r === undefined) return policy;
  if (move.kind === 'settle') return withRollout(policy, service, { ...r, state: move.state, reason: clip(move.reason), seq: r.seq + 1 });
  const progress = { ...move.progress, reason: move.progress.reason === null ? null : clip(move.progress.reason) };
  const rollout: Rollout = { ...r, ...progress, seq: r.seq + 1 };
  switch (move.kind) {
    case 'verdict':
    case 'pause':
      return withRollout(policy, service, rollout);
    case 'advance': {
      const step = r.steps[progress.step];
      if (step === undefined || progress.step !== r.step + 1) return policy;
      return withRollout(setCanary(policy, service, { version: r.version, weight: step.canary }), service, rollout);
    }
    case 'abort':
      return withRollout(dropCanary(policy, service, r.version, now, drainTimeoutMs), service, rollout);
    case 'complete':
      return withRollout(promote(policy, service, r.version, now, drainTimeoutMs), service, rollout);
  }
}

/**
 * A person steering the plan (`rollout pause|resume|abort|promote`):
 * pause holds the current weight, resume holds the step for its whole
 * pause on fresh figures, abort is the plan's abort, promote skips the
 * remaining steps. Asking for what already holds is unchanged.
 */
export function steerRollout(policy: Policy, service: string, verb: SteerVerb, now: Date, drainTimeoutMs: number, why: string): Policy {
  const r = servicePolicy(policy, service).rollout;
  if (r === undefined) throw usageError('no_rollout', `${service} has no rollout: start one with \`switchyard deploy <version> --steps\`.`, { service });
  if (!isLive(r)) {
    throw usageError('rollout_ended', `The rollout of ${service}@${r.version} is ${r.state}${r.reason === null ? '' : ` (${r.reason})`}: there is nothing to ${verb}. Start another with \`switchyard deploy <version> --steps\`.`, { service, version: r.version, state: r.state });
  }
  const reason = clip(why);
  const bump = (fields: Partial<Rollout>) => ({ ...r, ...fields, seq: r.seq + 1 });
  switch (verb) {
    case 'pause':
      return r.state === 'paused' ? policy : withRollout(policy, service, bump({ state: 'paused', reason }));
    case 'resume':
      return r.state === 'progressing' ? policy : withRollout(policy, service, bump(resumeRollout(r, now)));
    case 'abort':
      return withRollout(dropCanary(policy, service, r.version, now, drainTimeoutMs), service, bump({ state: 'aborted', reason }));
    case 'promote':
      return withRollout(promote(policy, service, r.version, now, drainTimeoutMs), service, bump({ state: 'completed', reason }));
  }
}
