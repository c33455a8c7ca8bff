import type { ServiceConfig } from '../config/schema.js';
import { failedError, usageError } from '../core/errors.js';
import { portsInUse } from '../core/plan-deploy.js';
import type { Policy } from '../core/policy-schema.js';
import { formatSteps } from '../core/rollout-plan.js';
import type { Rollout } from '../core/rollout-schema.js';
import { mayBeginRollout } from '../core/rollout-transitions.js';
import { liveInFleet } from '../fleet/alive.js';
import { bringBack } from './bring-back.js';
import { claimant } from './claims.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';
import { cleanedUp, describeHosts } from './host-report.js';
import { launch, type HostOutcome, type StartOutcome } from './launch.js';
import { applyRole, type DeadProcesses, type Role } from './roles.js';

export interface DeployRequest {
  service: ServiceConfig;
  version: string;
  role: Role;
  /** The state's secret: each process gets a key derived from it. */
  token: string;
  env: NodeJS.ProcessEnv;
  parallel?: number;
  allowPartial?: boolean;
  /** --port: one port per process on the hosts that need one, in host order. */
  ports?: readonly number[];
  sync?: { from: string; folder: string };
}

export interface DeployResult {
  service: string;
  version: string;
  role: Role;
  previousTarget: string | null;
  generation: number;
  /** Nothing changed: the version already ran everywhere in that role. */
  unchanged: boolean;
  /** Every host already ran it (active or draining): only the policy changed. */
  broughtBack: boolean;
  /** Hosts that already ran it; the others got new processes. */
  alreadyOn: string[];
  partial: boolean;
  hosts: HostOutcome[];
  processes: StartOutcome[];
  /** With a rollout role: the service's rollout as committed (ours, or the same version's already running). */
  rollout: Rollout | null;
}

/** How long a lost process's stop claim by a command lasts before the loop may take it over. */
const LOST_CLAIM_MS = 60_000;

/**
 * Which hosts need new processes of `version`: those with no live one. A
 * process PM2 lost is never brought back; its stop is claimed (lost) in
 * the same commit that changes the version's role.
 */
export async function deployPlan(deps: OpsDeps, policy: Policy, service: ServiceConfig, version: string): Promise<{ missing: string[]; lost: DeadProcesses }> {
  const entries = (policy.services[service.name]?.processes ?? []).filter((p) => p.version === version && (p.state === 'active' || p.state === 'draining'));
  const { live, dead } = entries.length === 0 ? { live: [], dead: [] } : await liveInFleet(deps.fleets, entries);
  const missing = service.hosts.filter((h) => !live.some((p) => p.host === h));
  return { missing, lost: { ids: dead.map((p) => p.id), owner: claimant(deps.owner, deps.clock.now(), LOST_CLAIM_MS) } };
}

/**
 * `deploy <version>`: the version's processes beside the old ones, ready,
 * then its role (target, canary, or only active) in the record commit.
 * Hosts that already run it live keep their processes (a draining one is
 * brought back: same pid, same sessions).
 */
export async function deploy(deps: OpsDeps, req: DeployRequest): Promise<DeployResult> {
  const { service, version, role } = req;
  const before = await deps.store.read();
  const previousTarget = before.services[service.name]?.target ?? null;
  // Refused before anything starts (it is checked again in the commit that starts it).
  if (role.kind === 'rollout') mayBeginRollout(before, service.name, version);
  let { missing, lost } = await deployPlan(deps, before, service, version);
  const ports = req.ports;
  for (const [i, port] of (ports ?? []).entries()) {
    const host = missing[Math.floor(i / service.instances)]!;
    if (portsInUse(before, host).has(port)) throw usageError('port_in_use', `Port ${port} on host ${host} is held by a live process of the policy: pick another with --port, or retire that process first.`, { host, port });
  }
  const base = { service: service.name, version, role, previousTarget, partial: false, hosts: [] as HostOutcome[], processes: [] as StartOutcome[] };
  const alreadyOn = service.hosts.filter((h) => !missing.includes(h));
  if (missing.length === 0) {
    const committed = await bringBack(() => commitChange(deps, 'deploy', (head) => applyRole(head, service, version, role, deps.clock.now(), lost)));
    if (committed !== undefined) {
      const rollout = rolloutOf(deps, committed.policy, req, previousTarget);
      return { ...base, generation: committed.policy.generation, unchanged: !committed.wrote, broughtBack: true, alreadyOn, rollout };
    }
    // Its draining processes were claimed for a stop meanwhile: start new incarnations instead.
    deps.progress?.info?.(`${service.name}@${version}'s draining processes are being stopped: starting new ones`);
    missing = [...service.hosts];
    lost = (await deployPlan(deps, await deps.store.read(), service, version)).lost;
  } else if (alreadyOn.length > 0) {
    deps.progress?.info?.(`${service.name}@${version} already runs on ${alreadyOn.join(', ')}: deploying to ${missing.join(', ')} only`);
  }
  const result = await launch(deps, {
    service, version, token: req.token, env: req.env, op: 'deploy',
    leaseMs: service.readiness.timeoutMs * 2 + 60_000,
    finish: (policy) => applyRole(policy, service, version, role, deps.clock.now(), lost),
    hosts: missing,
    ...(req.parallel === undefined ? {} : { parallel: req.parallel }),
    ...(req.allowPartial === undefined ? {} : { allowPartial: req.allowPartial }),
    ...(ports === undefined ? {} : { ports }),
    ...(req.sync === undefined ? {} : { sync: req.sync }),
  });
  if (!result.ok) {
    const cleanup = cleanedUp(result) ? 'every process started for it was removed' : 'some processes started for it could not be removed (see below)';
    throw failedError('deploy_failed', `${service.name}@${version} was not deployed; ${cleanup}, and the policy names no process of it as live.\n${describeHosts(result)}`, { service: service.name, version, hosts: result.hosts, processes: result.processes, generation: result.policy?.generation ?? null });
  }
  deps.notify?.({ type: 'deploy', service: service.name, version, from: previousTarget, generation: result.policy!.generation, role: role.kind });
  const rollout = rolloutOf(deps, result.policy!, req, previousTarget);
  return { ...base, generation: result.policy!.generation, unchanged: false, broughtBack: false, alreadyOn: missing.length < service.hosts.length ? alreadyOn : [], partial: result.partial, hosts: result.hosts, processes: result.processes, rollout };
}

/** The rollout the deploy left (null without a rollout role); `rollout.started` is told when it is the one this deploy began. */
function rolloutOf(deps: OpsDeps, policy: Policy, req: DeployRequest, from: string | null): Rollout | null {
  if (req.role.kind !== 'rollout') return null;
  const rollout = policy.services[req.service.name]?.rollout ?? null;
  if (rollout?.id === req.role.plan.id) {
    deps.notify?.({ type: 'rollout.started', service: req.service.name, version: req.version, from, generation: policy.generation, step: 1, canary: rollout.steps[0]!.canary, by: rollout.by, reason: `plan ${formatSteps(rollout.steps)}` });
  }
  return rollout;
}
