import { dirname } from 'node:path';
import { commitIfChanged } from '../store/commit-if-changed.js';
import { conflictError, usageError } from '../core/errors.js';
import { processId } from '../core/names.js';
import { planDeploy, withVersion, type PlannedProcess } from '../core/plan-deploy.js';
import type { Policy } from '../core/policy-schema.js';
import { claimStart, markActive, markFailed, type NewProcess } from '../core/policy-transitions.js';
import type { ServiceConfig } from '../config/schema.js';
import type { ProcessSpec } from '../fleet/fleet.js';
import { abandonedStarts, startsInProgress } from './claims.js';
import type { HostOutcome, LaunchInput, LaunchResult, StartOutcome } from './launch-types.js';
import { DEFAULT_PARALLEL, mapLimit } from './parallel.js';
import { PortBook } from './port-book.js';
import { prepareHost, specFor, startClaimed, type HostJob, type PreparedHost } from './start-host.js';

export type { HostOutcome, LaunchInput, LaunchResult, StartOutcome } from './launch-types.js';

/**
 * The folder a version's release lives in (the service's cwd, else the
 * script's folder), which `--sync` fills. It must depend on the version, so
 * a sync can never land on a shared folder such as the home folder.
 */
export function versionFolder(service: ServiceConfig, version: string): string {
  const template = service.cwd ?? dirname(service.script);
  if (!template.includes('{version}')) {
    throw usageError('sync_needs_version_folder', `--sync copies a release into its version's own folder, but services.${service.name}.${service.cwd === undefined ? 'script' : 'cwd'} does not put each version in one: use a path like releases/{version}/server.js.`);
  }
  return withVersion(template, version);
}

interface Claimed {
  spec: ProcessSpec;
  prepared: PreparedHost;
}

/**
 * Starts a version's processes the claim → act → record way:
 * 1. prepare every host (reach, copy, probe script and ports) — no side effect on PM2;
 * 2. claim: one compare-and-set commit adds them as `starting`, owned by
 *    this command, under fresh incarnation names (`…#0.g<generation>`);
 * 3. act: start exactly what the head still holds as our claims, wait until ready;
 * 4. record: one commit marks them active (plus `finish`: promote, canary,
 *    rollback), or failed — and only then are failed ones deleted from PM2.
 * A command killed at any step leaves claims the reconcile loop finds
 * (owner gone) and cleans up; never a process no entry names. All or
 * nothing across hosts unless allowPartial. One result per host.
 */
export async function launch(input: LaunchInput): Promise<LaunchResult> {
  const { config, service, version } = input;
  const head = await input.store.read();
  const wanted = new Set(input.hosts ?? service.hosts);
  const hosts = service.hosts.map((name) => ({ name, address: config.hosts[name]!.address }));
  const plan = planDeploy({ service: service.name, version, hosts, instances: service.instances, ports: service.ports, script: service.script, cwd: service.cwd, policy: head });
  const jobs: HostJob[] = hosts.filter((h) => wanted.has(h.name)).map((h) => ({ host: h.name, address: h.address, planned: plan.filter((p) => p.host === h.name) }));
  if (input.ports !== undefined) {
    let k = 0;
    for (const job of jobs) {
      const mine = input.ports.slice(k, k + job.planned.length);
      k += job.planned.length;
      job.planned = job.planned.map((p) => ({ ...p, candidatePorts: [...mine] }));
    }
  }
  const busy = startsInProgress(head, service.name, version, Date.now());
  if (busy.length > 0) {
    throw conflictError('deploy_in_progress', `Another command is starting ${service.name}@${version} (${busy.map((p) => `${p.id} by pid ${p.owner?.pid ?? '?'} on ${p.owner?.host ?? '?'}`).join(', ')}): wait for it, then run this again.`, { service: service.name, version });
  }

  const book = new PortBook(config, head, jobs.map((j) => j.host));
  const preparations = await mapLimit(jobs, input.parallel ?? DEFAULT_PARALLEL, (job) => prepareHost(input, job, book));
  const ready = preparations.flatMap((p) => (p.ok ? [p.host] : []));
  const allowPartial = input.allowPartial === true;
  if (ready.length === 0 || (ready.length < jobs.length && !allowPartial)) {
    return notStarted(preparations.map((p) => (p.ok ? skippedHost(p.host) : p)), undefined);
  }

  // 2. claim
  const now = new Date();
  let claimed: Claimed[] = [];
  const written = await commitIfChanged(input.store, (current) => {
    const incarnation = `g${current.generation + 1}`;
    claimed = ready.flatMap((prepared) => prepared.job.planned.map((p, i) => ({ prepared, spec: specFor(input, prepared, p, slotId(p, version, incarnation), prepared.ports[i]!) })));
    const entries: NewProcess[] = claimed.map(({ spec }) => ({ id: spec.id, version, host: spec.host, address: spec.address, port: spec.port }));
    const stale = abandonedStarts(current, service.name, version, now.getTime());
    const cleaned = stale.length === 0 ? current : markFailed(current, service.name, stale, now);
    if (startsInProgress(cleaned, service.name, version, now.getTime()).length > 0) throw conflictError('deploy_in_progress', `Another command started ${service.name}@${version} meanwhile: run this again once it is done.`);
    return claimStart(cleaned, service.name, entries, input.owner, now, { match: service.match, login: service.login });
  });
  const ids = claimed.map((c) => c.spec.id);
  await input.afterClaim?.(ids);

  // 3. act: only on claims the head still holds as ours
  const authorised = ownClaims(await input.store.read(), service.name, input.owner.id);
  const outcomes = await Promise.all(
    claimed.map((c) =>
      authorised.has(c.spec.id)
        ? startClaimed(input, c.prepared.fleet, c.spec)
        : Promise.resolve<StartOutcome>({ id: c.spec.id, host: c.spec.host, address: c.spec.address, port: c.spec.port, outcome: 'not_started', reason: 'its claim was taken over before it started' }),
    ),
  );

  // 4. record
  const readyIds = outcomes.filter((o) => o.outcome === 'ready').map((o) => o.id);
  const hostOk = (host: string) => outcomes.filter((o) => o.host === host).every((o) => o.outcome === 'ready');
  const okHosts = ready.filter((h) => hostOk(h.job.host));
  const ok = okHosts.length > 0 && (allowPartial || (okHosts.length === ready.length && ready.length === jobs.length));
  const keep = ok ? readyIds.filter((id) => okHosts.some((h) => claimed.find((c) => c.spec.id === id)?.prepared === h)) : [];
  const drop = ids.filter((id) => !keep.includes(id));
  let recorded: Policy | undefined = written.policy;
  let recordError: Error | undefined;
  try {
    recorded = (await commitIfChanged(input.store, (current) => {
      const mine = ownClaims(current, service.name, input.owner.id);
      let next = current;
      const failing = drop.filter((id) => mine.has(id));
      if (failing.length > 0) next = markFailed(next, service.name, failing, new Date());
      const activating = keep.filter((id) => mine.has(id));
      if (activating.length > 0) next = markActive(next, service.name, activating, new Date());
      if (ok && input.finish !== undefined) next = input.finish(next, keep);
      return next;
    })).policy;
  } catch (error) {
    recordError = error as Error;
    // The finish step was refused (the policy moved on): record every claim failed instead.
    recorded = (await commitIfChanged(input.store, (current) => {
      const mine = [...ownClaims(current, service.name, input.owner.id)].filter((id) => ids.includes(id));
      return mine.length === 0 ? current : markFailed(current, service.name, mine, new Date());
    }).catch(() => undefined))?.policy;
  }

  // Deleting is authorised by the failed state just committed (or by our own claim if that commit failed).
  const toDelete = recordError === undefined ? drop : ids;
  const cleanup = new Map<string, string>();
  await Promise.all(
    claimed.filter((c) => toDelete.includes(c.spec.id)).map(async (c) => {
      if (c.prepared.fleet.broken === true) {
        cleanup.set(c.prepared.job.host, `PM2 stopped answering, so ${c.spec.id} could not be removed; its entry says failed, and the router's reconcile loop deletes it once PM2 answers again`);
        return;
      }
      try {
        await c.prepared.fleet.remove(c.spec.id);
      } catch (error) {
        cleanup.set(c.prepared.job.host, `could not remove what was started: ${(error as Error).message}`);
      }
    }),
  );
  if (recordError !== undefined) throw recordError;
  const hostOutcomes = preparations.map((p) => (p.ok ? hostOutcome(p.host, outcomes, keep, cleanup.get(p.host.job.host)) : p.outcome));
  return { ok, partial: ok && (keep.length < ids.length || ready.length < jobs.length), processes: [...outcomes, ...preparations.flatMap((p) => (p.ok ? [] : p.processes))], hosts: hostOutcomes, claimed: ids, policy: recorded };
}

function slotId(p: PlannedProcess, version: string, incarnation: string): string {
  const slot = Number(p.id.slice(p.id.lastIndexOf('#') + 1));
  return processId(p.id.slice(0, p.id.indexOf('@')), version, slot, incarnation);
}

/** Ids of the service's `starting` entries owned by `ownerId`. */
function ownClaims(policy: Policy, service: string, ownerId: string): Set<string> {
  return new Set((policy.services[service]?.processes ?? []).filter((p) => p.state === 'starting' && p.owner?.id === ownerId).map((p) => p.id));
}

function hostOutcome(h: PreparedHost, outcomes: StartOutcome[], keep: string[], cleanupError: string | undefined): HostOutcome {
  const mine = outcomes.filter((o) => o.host === h.job.host);
  const failure = mine.find((o) => o.outcome !== 'ready');
  const kept = mine.length > 0 && mine.every((o) => keep.includes(o.id));
  const outcome: HostOutcome['outcome'] = failure !== undefined ? 'failed' : kept ? 'ready' : 'removed';
  return {
    host: h.job.host,
    address: h.job.address,
    outcome,
    ...(failure?.reason !== undefined ? { reason: failure.reason } : outcome === 'removed' ? { reason: 'removed: another host failed' } : {}),
    processes: mine.map((o) => o.id),
    ports: h.ports,
    ms: Date.now() - h.startedAt,
    ...(h.synced === undefined ? {} : { synced: h.synced }),
    ...(cleanupError === undefined ? {} : { cleanupError }),
  };
}

function skippedHost(h: PreparedHost): { ok: false; outcome: HostOutcome; processes: StartOutcome[] } {
  const reason = 'not started: another host failed before anything was started';
  return {
    ok: false,
    outcome: { host: h.job.host, address: h.job.address, outcome: 'skipped', reason, processes: h.job.planned.map((p) => p.id), ms: Date.now() - h.startedAt },
    processes: h.job.planned.map((p) => ({ id: p.id, host: p.host, address: p.address, port: null, outcome: 'not_started', reason })),
  };
}

function notStarted(failed: Array<{ outcome: HostOutcome; processes: StartOutcome[] }>, policy: Policy | undefined): LaunchResult {
  return { ok: false, partial: false, processes: failed.flatMap((f) => f.processes), hosts: failed.map((f) => f.outcome), claimed: [], policy };
}
