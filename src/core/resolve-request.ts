import { findServing, indexPolicy } from './policy-index.js';
import type { Policy } from './policy-schema.js';
import {
  addressOf,
  checkTerminalVersion,
  findService,
  isFailure,
  list,
  pickProcess,
  type Loads,
  type ProcessAddress,
  type RoundRobin,
  type RouteFailure,
} from './resolve-shared.js';

export interface RequestRoute extends ProcessAddress {
  ok: true;
}

export type RequestResult = RequestRoute | RouteFailure;

/**
 * Routes a request from a terminal already running `version` to a process of
 * a matching version, active or draining: a draining version keeps serving
 * the terminals it already has (DESIGN.md, "Routing semantics").
 */
export function resolveRequest(
  policy: Policy,
  service: string | undefined,
  version: unknown,
  loads?: Loads,
  cursor?: RoundRobin,
): RequestResult {
  const terminalVersion = checkTerminalVersion(version);
  if (typeof terminalVersion !== 'string') return terminalVersion;
  const svc = findService(indexPolicy(policy), service);
  if (isFailure(svc)) return svc;

  const entry = findServing(svc, terminalVersion);
  if (entry !== undefined) {
    return { ok: true, ...addressOf(svc.name, pickProcess(entry.requestPool, loads, cursor)) };
  }
  const served = svc.served;
  const message =
    served.length === 0
      ? `Service ${svc.name} serves no version right now, so version ${terminalVersion} cannot be served: deploy a version first.`
      : `Service ${svc.name} does not serve version ${terminalVersion} (match rule: ${svc.match}); it serves ${list(served)}. Log in again to be told which version to run.`;
  return { ok: false, status: 404, error: 'version_not_served', message, versions: [...served] };
}
