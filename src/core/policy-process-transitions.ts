import { conflictError, failedError, usageError } from './errors.js';
import { ADDRESS, checkHostName, checkServiceName, parseProcessId } from './names.js';
import type { Policy, ProcessEntry, ProcessState, ServicePolicy } from './policy-schema.js';
import { isoAt, servicePolicy } from './policy-query.js';
import { checkVersion, printable, type MatchRule } from './version.js';

/**
 * Transitions of single processes. The state machine (DESIGN.md):
 *
 *   starting → active → draining → stopping → retired
 *   starting → failed          draining → active (rollback)
 *
 * `starting` and `stopping` are claims: they are committed, with an owner,
 * before the process is started or stopped, so a side effect is always
 * authorised by a committed generation and a crash leaves a visible claim.
 * Every function checks the from-state of each process it moves and refuses
 * anything else: this is the last line of defence against a racing caller.
 * Each returns a new policy and leaves `generation`/`updatedAt` to the store.
 */

export interface NewProcess {
  id: string;
  version: string;
  host: string;
  address: string;
  port: number;
}

export interface ServiceDefaults {
  match?: MatchRule;
  login?: ServicePolicy['login'];
}

/** Who holds a claim: a command (with its pid and host) or a router's reconcile loop. */
export interface Owner {
  id: string;
  pid?: number;
  host?: string;
  /** Until when the owner means to work on it, by its own clock (shown to people; never compared across machines). */
  until?: string;
  /** How long the claim lasts without a renewal, judged on the judge's own clock from when it first saw the claim. */
  leaseMs?: number;
}

export type StopReason = NonNullable<ProcessEntry['reason']>;

/** A deep copy of the policy and the copy's entry for `service`, ready to change. */
export function editService(policy: Policy, service: string): { next: Policy; svc: ServicePolicy } {
  servicePolicy(policy, service);
  const next = structuredClone(policy);
  return { next, svc: next.services[service]! };
}

/** The entries named by `ids` (duplicates folded), refusing unknown ids and an empty list. */
export function pickProcesses(svc: ServicePolicy, service: string, ids: readonly string[]): ProcessEntry[] {
  if (ids.length === 0) {
    throw usageError('no_processes', `No process ids were given for ${service}.`);
  }
  return [...new Set(ids)].map((id) => {
    const entry = svc.processes.find((p) => p.id === id);
    if (entry === undefined) {
      const known = svc.processes.map((p) => p.id);
      const listed = known.length === 0 ? 'it has none' : `its processes are ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}`;
      throw usageError('unknown_process', `${service} has no process "${printable(id)}" (${listed}).`, { service, id });
    }
    return entry;
  });
}

/** States whose process may be running: everything but retired and failed. */
export function isLiveState(state: ProcessState): boolean {
  return state !== 'retired' && state !== 'failed';
}

/**
 * Claims the start of new processes: adds them as `starting`, owned by
 * `owner`. Nothing may be started that this write does not name. Ids are
 * incarnations and never reused; a port held by a live process is a race
 * lost to another writer (exit 4).
 */
export function claimStart(policy: Policy, service: string, processes: readonly NewProcess[], owner: Owner, now: Date, defaults: ServiceDefaults = {}): Policy {
  checkServiceName(service);
  const since = isoAt(now);
  if (processes.length === 0) throw usageError('no_processes', `No processes were given to add to ${service}.`);
  const next = structuredClone(policy);
  if (!Object.hasOwn(next.services, service)) {
    next.services[service] = { target: null, canary: null, match: defaults.match ?? 'exact', login: defaults.login ?? 'force', processes: [] };
  }
  const svc = next.services[service]!;
  for (const input of processes) {
    const entry: ProcessEntry = { ...checkNewProcess(service, input), state: 'starting', since, owner: { ...owner } };
    const existing = svc.processes.find((p) => p.id === entry.id);
    if (existing !== undefined) {
      throw conflictError('duplicate_process', `${entry.id} is already in the policy (${existing.state}): a process name is one incarnation and is never reused; run the command again.`, { id: entry.id });
    }
    const holder = portHolder(next, entry.host, entry.port);
    if (holder !== undefined) {
      throw conflictError('port_in_use', `Port ${entry.port} on host ${entry.host} was just taken by ${holder.id} (${holder.state}): run the command again to pick another.`, { host: entry.host, port: entry.port, id: holder.id });
    }
    svc.processes.push(entry);
  }
  return next;
}

/** Readiness passed: starting → active. */
export function markActive(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  return moveProcesses(policy, service, ids, now, 'active', ['starting']);
}

/** Never became ready, or its claim was abandoned: starting → failed. Its process, if any, is to be deleted. */
export function markFailed(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  return moveProcesses(policy, service, ids, now, 'failed', ['starting']);
}

/** A draining process takes logins again (rollback, or a redeploy of its version): draining → active. */
export function reactivate(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  return moveProcesses(policy, service, ids, now, 'active', ['draining']);
}

export interface StopClaim {
  now: Date;
  reason: StopReason;
  owner: Owner;
  /** Terminals each process held by its last heartbeat: cut off when it stops. */
  terminals?: Readonly<Record<string, number>>;
  /** The `since` each decision saw: a process drained again since then is refused as a stale decision. */
  expectSince?: Readonly<Record<string, string | undefined>>;
}

/**
 * Claims the stop of processes: draining → stopping (or active → stopping
 * for a process lost from PM2). Refused for a process of the target or the
 * canary version, except a lost one that leaves another active process of
 * its version: the last live process of the version new logins go to is
 * never stopped.
 */
export function claimStop(policy: Policy, service: string, ids: readonly string[], claim: StopClaim): Policy {
  const { next, svc } = editService(policy, service);
  const since = isoAt(claim.now);
  const picked = pickProcesses(svc, service, ids);
  for (const p of picked) {
    const allowed: ProcessState[] = claim.reason === 'lost' ? ['draining', 'active'] : ['draining'];
    if (!allowed.includes(p.state)) {
      throw failedError('invalid_transition', `${p.id} is ${p.state}, so it cannot be stopped (only a ${allowed.join(' or ')} process can).`, { id: p.id, from: p.state, to: 'stopping' });
    }
    const expected = claim.expectSince?.[p.id];
    if (claim.expectSince !== undefined && Object.hasOwn(claim.expectSince, p.id) && expected !== p.since) {
      throw conflictError('stale_decision', `${p.id} changed (since ${p.since ?? 'unknown'}) after the decision to stop it was made: looking again.`, { id: p.id });
    }
    const takesLogins = p.version === svc.target || p.version === svc.canary?.version;
    if (takesLogins) {
      const othersLive = svc.processes.some((o) => o.version === p.version && o.state === 'active' && !picked.includes(o));
      if (claim.reason !== 'lost' || !othersLive) {
        throw usageError('stops_serving_version', `Refusing to stop ${p.id}: ${p.version} is the ${p.version === svc.target ? 'target' : 'canary'} of ${service}${claim.reason === 'lost' ? ' and no other live process of it exists' : ''}; promote or roll back to another version first.`, { id: p.id, version: p.version });
      }
    }
  }
  for (const p of picked) {
    p.state = 'stopping';
    p.since = since;
    p.reason = claim.reason;
    p.owner = { ...claim.owner };
    const held = claim.terminals?.[p.id] ?? 0;
    if (held > 0 && claim.reason !== 'drained') p.terminalsCutOff = held;
    delete p.drainDeadline;
  }
  return next;
}

/** Hands the claims on `starting` or `stopping` processes to a new owner (an abandoned claim is taken over). */
export function takeOver(policy: Policy, service: string, ids: readonly string[], owner: Owner): Policy {
  const { next, svc } = editService(policy, service);
  for (const p of pickProcesses(svc, service, ids)) {
    if (p.state !== 'starting' && p.state !== 'stopping') {
      throw failedError('invalid_transition', `${p.id} is ${p.state}: only a starting or stopping claim can change owner.`, { id: p.id });
    }
    p.owner = { ...owner };
  }
  return next;
}

/** Its process is stopped and gone: stopping → retired. Retiring twice is harmless. */
export function retire(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  const { next, svc } = editService(policy, service);
  const since = isoAt(now);
  for (const p of pickProcesses(svc, service, ids)) {
    if (p.state === 'retired') continue;
    if (p.state !== 'stopping') {
      throw failedError('invalid_transition', `${p.id} is ${p.state}, so it cannot be retired: only a stopping process (its stop claimed first) can.`, { id: p.id, from: p.state, to: 'retired' });
    }
    p.state = 'retired';
    p.since = since;
    delete p.owner;
  }
  return next;
}

function moveProcesses(policy: Policy, service: string, ids: readonly string[], now: Date, to: ProcessState, from: readonly ProcessState[]): Policy {
  const { next, svc } = editService(policy, service);
  const since = isoAt(now);
  for (const p of pickProcesses(svc, service, ids)) {
    // Repeating a result (a retried step) is harmless.
    if (p.state === to) continue;
    if (!from.includes(p.state)) {
      throw failedError('invalid_transition', `${p.id} is ${p.state}, so it cannot become ${to} (only a ${from.join(' or ')} process can); deploy the version again to start a fresh process.`, { id: p.id, from: p.state, to });
    }
    p.state = to;
    p.since = since;
    delete p.owner;
    delete p.drainDeadline;
    if (to === 'failed') p.reason = 'abandoned';
  }
  return next;
}

function checkNewProcess(service: string, input: NewProcess): Omit<ProcessEntry, 'state'> {
  const version = checkVersion(input.version);
  const host = checkHostName(input.host);
  const parsed = typeof input.id === 'string' ? parseProcessId(input.id) : null;
  if (parsed === null || parsed.service !== service || parsed.version !== version) {
    throw usageError('invalid_process', `"${printable(String(input.id))}" is not a process id of ${service}@${version}: expected ${service}@${version}#<index>.<incarnation>.`);
  }
  if (typeof input.address !== 'string' || !ADDRESS.test(input.address)) {
    throw usageError('invalid_process', `${input.id}: "${printable(String(input.address))}" is not a host name or IP address terminals can connect to.`);
  }
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) {
    throw usageError('invalid_process', `${input.id}: port ${String(input.port)} is not a port number (1-65535).`);
  }
  return { id: input.id, version, host, address: input.address, port: input.port };
}

/** The live process (any service) holding host:port; retired and failed ones have let go of it. */
function portHolder(policy: Policy, host: string, port: number): ProcessEntry | undefined {
  for (const svc of Object.values(policy.services)) {
    const found = svc.processes.find((p) => isLiveState(p.state) && p.host === host && p.port === port);
    if (found !== undefined) return found;
  }
  return undefined;
}
