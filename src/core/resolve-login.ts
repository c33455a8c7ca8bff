import { inCanary } from './canary.js';
import { findActive, indexPolicy, type ServiceIndex, type VersionEntry } from './policy-index.js';
import type { Policy } from './policy-schema.js';
import {
  addressOf,
  checkTerminalVersion,
  fail,
  findService,
  isFailure,
  pickProcess,
  type Loads,
  type ProcessAddress,
  type RoundRobin,
  type RouteFailure,
} from './resolve-shared.js';

export interface ConnectResult extends ProcessAddress {
  ok: true;
  action: 'connect';
}

export interface UpgradeResult {
  ok: true;
  action: 'upgrade';
  service: string;
  targetVersion: string;
}

export type LoginResult = ConnectResult | UpgradeResult | RouteFailure;

/**
 * Decides where a terminal logging in goes (DESIGN.md, "Routing semantics"):
 * connect when its version is the one chosen for it (or, under login policy
 * `allow`, when an active process matches it), otherwise a version-change
 * message naming the chosen version. Draining processes take no new logins.
 */
export function resolveLogin(
  policy: Policy,
  service: string | undefined,
  version: unknown,
  terminalId: unknown,
  loads?: Loads,
  cursor?: RoundRobin,
): LoginResult {
  const terminalVersion = checkTerminalVersion(version);
  if (typeof terminalVersion !== 'string') return terminalVersion;
  const svc = findService(indexPolicy(policy), service);
  if (isFailure(svc)) return svc;

  const chosen = chooseVersion(svc, typeof terminalId === 'string' ? terminalId : '');
  if (chosen === null) {
    return fail(503, 'no_target', `Service ${svc.name} has no target version yet: deploy a version first (switchyard deploy <version>).`);
  }
  const entry = svc.versions.get(chosen);
  const chosenEntry = entry !== undefined && entry.active.length > 0 ? entry : undefined;

  if (terminalVersion === chosen) {
    return chosenEntry === undefined ? noActiveProcess(svc, chosen) : connect(svc, chosenEntry, loads, cursor);
  }
  if (svc.policy.login === 'allow') {
    const match = findActive(svc, terminalVersion);
    if (match !== undefined) return connect(svc, match, loads, cursor);
  }
  // Never send a terminal off to change version towards something nobody serves.
  if (chosenEntry === undefined) return noActiveProcess(svc, chosen);
  return { ok: true, action: 'upgrade', service: svc.name, targetVersion: chosen };
}

/**
 * The version this terminal should run: the canary version for the canary's
 * share of terminal ids, the target for everyone else. A canary whose version
 * has no active process is skipped, so a failed canary sends nobody into a
 * version-change loop towards a version that cannot take them.
 */
function chooseVersion(svc: ServiceIndex, terminalId: string): string | null {
  const canary = svc.canary;
  if (canary !== null && inCanary(terminalId, canary.weight)) {
    const entry = svc.versions.get(canary.version);
    if (entry !== undefined && entry.active.length > 0) return canary.version;
  }
  return svc.policy.target;
}

function connect(svc: ServiceIndex, entry: VersionEntry, loads?: Loads, cursor?: RoundRobin): ConnectResult {
  return { ok: true, action: 'connect', ...addressOf(svc.name, pickProcess(entry.active, loads, cursor)) };
}

function noActiveProcess(svc: ServiceIndex, version: string): RouteFailure {
  return fail(
    503,
    'no_active_process',
    `Service ${svc.name} has no active process of version ${version} to take logins: check its processes with switchyard status, or deploy or promote a version that is running.`,
  );
}
