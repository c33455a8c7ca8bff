import { failedError, usageError } from './errors.js';
import { ADDRESS, checkHostName, checkServiceName, parseProcessId } from './names.js';
import type { Policy, ProcessEntry, ProcessState, ServicePolicy } from './policy-schema.js';
import { isoAt, servicePolicy } from './policy-query.js';
import { checkVersion, printable, type MatchRule } from './version.js';

/**
 * Transitions of single processes: adding them, readiness results,
 * retiring and removing. Each returns a new policy and leaves `generation`
 * and `updatedAt` to the policy store, which bumps them on write.
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

export function addProcesses(
  policy: Policy,
  service: string,
  processes: readonly NewProcess[],
  now: Date,
  defaults: ServiceDefaults = {},
): Policy {
  checkServiceName(service);
  const since = isoAt(now);
  if (processes.length === 0) {
    throw usageError('no_processes', `No processes were given to add to ${service}.`);
  }
  const next = structuredClone(policy);
  if (!Object.hasOwn(next.services, service)) {
    next.services[service] = {
      target: null,
      canary: null,
      match: defaults.match ?? 'exact',
      login: defaults.login ?? 'force',
      processes: [],
    };
  }
  const svc = next.services[service]!;
  for (const input of processes) {
    const entry = checkNewProcess(service, input, since);
    const existing = svc.processes.findIndex((p) => p.id === entry.id);
    const current = svc.processes[existing];
    if (current !== undefined && current.state !== 'retired') {
      throw usageError('duplicate_process', `${entry.id} is already in the policy (${current.state}): retire or remove it first, or use another index.`, { id: entry.id });
    }
    const holder = portHolder(next, entry.host, entry.port);
    if (holder !== undefined) {
      throw usageError('port_in_use', `Port ${entry.port} on host ${entry.host} is already used by ${holder.id} (${holder.state}): pick another port, or retire that process first.`, { host: entry.host, port: entry.port, id: holder.id });
    }
    // A retired entry under the same id is a restart of that process: replace it in place.
    if (current !== undefined) svc.processes[existing] = entry;
    else svc.processes.push(entry);
  }
  return next;
}

export function markActive(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  return moveProcesses(policy, service, ids, now, 'active', ['starting']);
}

export function markFailed(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  return moveProcesses(policy, service, ids, now, 'failed', ['starting']);
}

/**
 * Retires processes (their PM2 processes are stopped, or about to be). The
 * target's last active process is refused: that would leave new logins of
 * the service with nowhere to go.
 */
export function retire(policy: Policy, service: string, ids: readonly string[], now: Date): Policy {
  const { next, svc } = editService(policy, service);
  const picked = pickProcesses(svc, service, ids);
  refuseEmptyingTarget(svc, service, picked, 'retire');
  const since = isoAt(now);
  for (const p of picked) {
    if (p.state === 'retired') continue;
    p.state = 'retired';
    p.since = since;
    delete p.drainDeadline;
  }
  return next;
}

/** Drops entries outright; used to clean up the processes of a deploy that failed. */
export function removeProcesses(policy: Policy, service: string, ids: readonly string[]): Policy {
  const { next, svc } = editService(policy, service);
  const picked = new Set(pickProcesses(svc, service, ids));
  refuseEmptyingTarget(svc, service, [...picked], 'remove');
  svc.processes = svc.processes.filter((p) => !picked.has(p));
  return next;
}

function moveProcesses(
  policy: Policy,
  service: string,
  ids: readonly string[],
  now: Date,
  to: ProcessState,
  from: readonly ProcessState[],
): Policy {
  const { next, svc } = editService(policy, service);
  const since = isoAt(now);
  for (const p of pickProcesses(svc, service, ids)) {
    // Repeating a readiness result (a retried deploy step) is harmless.
    if (p.state === to) continue;
    if (!from.includes(p.state)) {
      throw failedError('invalid_transition', `${p.id} is ${p.state}, so it cannot become ${to} (only a ${from.join(' or ')} process can); deploy the version again to start a fresh process.`, { id: p.id, from: p.state, to });
    }
    p.state = to;
    p.since = since;
  }
  return next;
}

function refuseEmptyingTarget(svc: ServicePolicy, service: string, picked: readonly ProcessEntry[], verb: string): void {
  if (svc.target === null) return;
  const target = svc.target;
  const touchesTarget = picked.some((p) => p.version === target && p.state === 'active');
  const remaining = svc.processes.filter((p) => p.version === target && p.state === 'active' && !picked.includes(p));
  if (touchesTarget && remaining.length === 0) {
    throw usageError('last_target_process', `Cannot ${verb} the last active process of ${service}'s target ${target}: new logins would have nowhere to go. Promote another version first, or deploy more processes of ${target}.`, { service, version: target });
  }
}

function checkNewProcess(service: string, input: NewProcess, since: string): ProcessEntry {
  const version = checkVersion(input.version);
  const host = checkHostName(input.host);
  const parsed = typeof input.id === 'string' ? parseProcessId(input.id) : null;
  if (parsed === null || parsed.service !== service || parsed.version !== version) {
    throw usageError('invalid_process', `"${printable(String(input.id))}" is not a process id of ${service}@${version}: expected ${service}@${version}#<index>.`);
  }
  if (typeof input.address !== 'string' || !ADDRESS.test(input.address)) {
    throw usageError('invalid_process', `${input.id}: "${printable(String(input.address))}" is not a host name or IP address terminals can connect to.`);
  }
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) {
    throw usageError('invalid_process', `${input.id}: port ${String(input.port)} is not a port number (1-65535).`);
  }
  return { id: input.id, version, host, address: input.address, port: input.port, state: 'starting', since };
}

/** The live process (any service) holding host:port; retired ones have let go of it. */
function portHolder(policy: Policy, host: string, port: number): ProcessEntry | undefined {
  for (const svc of Object.values(policy.services)) {
    const found = svc.processes.find((p) => p.state !== 'retired' && p.host === host && p.port === port);
    if (found !== undefined) return found;
  }
  return undefined;
}
