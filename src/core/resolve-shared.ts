import type { ProcessEntry } from './policy-schema.js';
import type { PolicyIndex, ServiceIndex } from './policy-index.js';
import { isValidVersion, printable } from './version.js';

/**
 * Types and helpers shared by login and request resolution. Failures are
 * returned as values, never thrown: this runs for every login and request,
 * and bad input from terminals is routine, not exceptional.
 */

/** Terminals per process from its last heartbeat; undefined when unknown. */
export interface Loads {
  terminals(processId: string): number | undefined;
  /**
   * True for a process PM2 lacks or reports errored or stopped (the
   * reconcile loop's last look). Such a process is never chosen while
   * another process of its version is live.
   */
  unavailable?(processId: string): boolean;
}

/** The only routing state: a cursor the caller owns and keeps between calls. */
export interface RoundRobin {
  next: number;
}

export type RouteErrorCode =
  | 'version_required'
  | 'invalid_version'
  | 'service_required'
  | 'unknown_service'
  | 'version_not_served'
  | 'no_target'
  | 'no_active_process';

export interface RouteFailure {
  ok: false;
  status: 400 | 404 | 503;
  error: RouteErrorCode;
  message: string;
  /** With version_not_served: the versions served, newest first. */
  versions?: string[];
}

export interface ProcessAddress {
  service: string;
  version: string;
  address: string;
  port: number;
  processId: string;
}

export function fail(status: RouteFailure['status'], error: RouteErrorCode, message: string): RouteFailure {
  return { ok: false, status, error, message };
}

/**
 * Versions already found valid. A fleet's terminals run a handful of
 * versions, so remembering them spares a semver parse on every request; the
 * set is bounded so junk input cannot grow it without limit (only valid
 * versions enter, and it starts over when full).
 */
const knownValid = new Set<string>();
const KNOWN_VALID_MAX = 1024;

/** Checks a terminal version from the wire; returns it, or the failure to answer with. */
export function checkTerminalVersion(version: unknown): string | RouteFailure {
  if (typeof version === 'string' && knownValid.has(version)) return version;
  if (isValidVersion(version)) {
    if (knownValid.size >= KNOWN_VALID_MAX) knownValid.clear();
    knownValid.add(version);
    return version;
  }
  if (version === undefined || version === null || version === '') {
    return fail(400, 'version_required', 'A terminal version is required: send the version the terminal runs, as semver like 1.4.2.');
  }
  if (typeof version !== 'string') {
    return fail(400, 'invalid_version', `The terminal version must be a string like 1.4.2, not ${typeof version}.`);
  }
  return fail(400, 'invalid_version', `"${printable(version)}" is not a valid version: expected semver like 1.4.2 (MAJOR.MINOR.PATCH, optional -prerelease and +build).`);
}

/** Finds the service a call is about; an absent name means the only service. */
export function findService(index: PolicyIndex, service: unknown): ServiceIndex | RouteFailure {
  if (service === undefined || service === null || service === '') {
    if (index.services.size === 1) return index.services.values().next().value as ServiceIndex;
    if (index.services.size === 0) {
      return fail(404, 'unknown_service', 'No service is configured yet: add one to the config and deploy a version first.');
    }
    return fail(400, 'service_required', `Several services are configured (${list(index.names)}): say which one the terminal wants.`);
  }
  // A Map lookup, so names like "__proto__" or "constructor" are just unknown names.
  const found = typeof service === 'string' ? index.services.get(service) : undefined;
  if (found !== undefined) return found;
  const shown = typeof service === 'string' ? `"${printable(service)}"` : `a ${typeof service}`;
  const known = index.names.length === 0 ? 'none is configured yet' : `known services: ${list(index.names)}`;
  return fail(404, 'unknown_service', `There is no service ${shown}; ${known}.`);
}

export function isFailure(value: unknown): value is RouteFailure {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

/**
 * Picks the process with the fewest terminals by last heartbeat (unknown
 * counts as 0), ties broken round robin through the caller's cursor. Two
 * passes and no allocation: this runs on every login and request.
 */
export function pickProcess(pool: readonly ProcessEntry[], loads?: Loads, cursor?: RoundRobin): ProcessEntry {
  const n = pool.length;
  if (n === 1) return pool[0]!;
  // Skip processes known to be down, unless every one is (then the choice is no worse than before).
  const skipDown = loads?.unavailable !== undefined && anyAvailable(pool, loads);
  let min = Infinity;
  let ties = n;
  if (loads !== undefined) {
    ties = 0;
    for (let i = 0; i < n; i++) {
      if (skipDown && loads.unavailable!(pool[i]!.id)) continue;
      const load = loadOf(loads, pool[i]!.id);
      if (load < min) {
        min = load;
        ties = 1;
      } else if (load === min) {
        ties++;
      }
    }
  }
  let turn = 0;
  if (cursor !== undefined) {
    const next = Number.isSafeInteger(cursor.next) && cursor.next >= 0 ? cursor.next : 0;
    turn = next % ties;
    // Wrap well below 2^53 so the cursor stays an exact integer forever.
    cursor.next = next >= 0x7fffffff ? 0 : next + 1;
  }
  if (loads === undefined) return pool[turn]!;
  for (let i = 0; i < n; i++) {
    const p = pool[i]!;
    if (skipDown && loads.unavailable!(p.id)) continue;
    if (loadOf(loads, p.id) === min && turn-- === 0) return p;
  }
  return pool[0]!;
}

function anyAvailable(pool: readonly ProcessEntry[], loads: Loads): boolean {
  for (let i = 0; i < pool.length; i++) if (!loads.unavailable!(pool[i]!.id)) return true;
  return false;
}

function loadOf(loads: Loads, processId: string): number {
  const n = loads.terminals(processId);
  // NaN, negatives and non-numbers count as unknown, so they cannot poison the comparison.
  return typeof n === 'number' && n > 0 ? n : 0;
}

export function addressOf(service: string, p: ProcessEntry): ProcessAddress {
  return { service, version: p.version, address: p.address, port: p.port, processId: p.id };
}

/** Lists names for a message, cut short so a huge policy cannot make a huge message. */
export function list(items: readonly string[], max = 20): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
