import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { conflictError, isSwitchyardError, usageError } from '../core/errors.js';
import { newIncarnation, processId } from '../core/names.js';
import { planDeploy, withVersion, type PlannedProcess } from '../core/plan-deploy.js';
import type { Policy, ProcessEntry } from '../core/policy-schema.js';
import { claimStart, markActive, markFailed, type NewProcess } from '../core/policy-transitions.js';
import type { ServiceConfig } from '../config/schema.js';
import type { ProcessSpec } from '../fleet/fleet.js';
import { actAuthorised } from './act.js';
import { abandonedStarts, claimant, judgeOf, ownClaims, startsInProgress } from './claims.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';
import type { HostOutcome, LaunchInput, LaunchRequest, LaunchResult, StartOutcome } from './launch-types.js';
import { renewWhileWorking } from './renew.js';
import { DEFAULT_PARALLEL, mapLimit } from './parallel.js';
import { PortBook } from './port-book.js';
import { prepareHost, specFor, startClaimed, type HostJob, type PreparedHost } from './start-host.js';

export type { HostOutcome, LaunchInput, LaunchRequest, LaunchResult, StartOutcome } from './launch-types.js';

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
 * Starts a version's processes the claim → act → record way, through the
 * executor (commit.ts, act.ts):
 * 1. prepare every host (reach, copy, probe script and ports) — no side effect on PM2;
 * 2. claim: one compare-and-set commit adds them as `starting`, owned by
 *    this command (its lease set now, after the preparation, and renewed
 *    while it works), under fresh incarnation names;
 * 3. act: start exactly what the head, read again, still holds as our claims, wait until ready;
 * 4. record: one commit marks them active (plus `finish`: promote, canary,
 *    rollback), or failed — and only what the head then says failed is deleted.
 * A record whose outcome is unknown deletes nothing: if it landed, the
 * processes serve; if not, their claims are left to the reconcile loop.
 * A command killed at any step leaves claims the loop finds (owner gone)
 * and cleans up; never a process no entry names. All or nothing across
 * hosts unless allowPartial. One result per host.
 */
export async function launch(deps: OpsDeps, req: LaunchRequest): Promise<LaunchResult> {
  const { service, version } = req;
  const { config } = deps;
  const input: LaunchInput = { ...req, config, dir: deps.dir, fleets: deps.fleets, onStep: (m) => deps.progress?.step(m) };
  const head = await deps.store.read();
  const wanted = new Set(req.hosts ?? service.hosts);
  const hosts = service.hosts.map((name) => ({ name, address: config.hosts[name]!.address }));
  const plan = planDeploy({ service: service.name, version, hosts, instances: req.instancesPerHost ?? service.instances, ports: service.ports, script: service.script, cwd: service.cwd, policy: head });
  const jobs: HostJob[] = hosts.filter((h) => wanted.has(h.name)).map((h) => ({ host: h.name, address: h.address, planned: plan.filter((p) => p.host === h.name) }));
  if (req.ports !== undefined) {
    let k = 0;
    for (const job of jobs) {
      const mine = req.ports.slice(k, k + job.planned.length);
      k += job.planned.length;
      job.planned = job.planned.map((p) => ({ ...p, candidatePorts: [...mine] }));
    }
  }
  const busy = startsInProgress(head, service.name, version, judgeOf(deps));
  if (busy.length > 0) throw inProgress(service.name, version, busy);

  const book = new PortBook(config, head, jobs.map((j) => j.host));
  const preparations = await mapLimit(jobs, req.parallel ?? DEFAULT_PARALLEL, (job) => prepareHost(input, job, book));
  const ready = preparations.flatMap((p) => (p.ok ? [p.host] : []));
  const allowPartial = req.allowPartial === true;
  if (ready.length === 0 || (ready.length < jobs.length && !allowPartial)) {
    return notStarted(preparations.map((p) => (p.ok ? skippedHost(p.host) : p)), undefined);
  }

  // 2. claim, under a lease that starts now, after the preparation
  let claimed: Claimed[] = [];
  const written = await commitChange(deps, `${req.op} claim`, (current) => {
    const now = deps.clock.now();
    const judge = judgeOf(deps);
    const incarnation = newIncarnation(current.generation + 1, randomBytes(4).toString('hex'));
    claimed = ready.flatMap((prepared) => prepared.job.planned.map((p, i) => ({ prepared, spec: specFor(input, prepared, p, slotId(p, version, incarnation), prepared.ports[i]!) })));
    const entries: NewProcess[] = claimed.map(({ spec }) => ({ id: spec.id, version, host: spec.host, address: spec.address, port: spec.port }));
    const stale = abandonedStarts(current, service.name, version, judge);
    const cleaned = stale.length === 0 ? current : markFailed(current, service.name, stale, now);
    const racing = startsInProgress(cleaned, service.name, version, judge);
    if (racing.length > 0) throw inProgress(service.name, version, racing);
    return claimStart(cleaned, service.name, entries, claimant(deps.owner, now, req.leaseMs), now, { match: service.match, login: service.login });
  }, { retries: 8 });
  const ids = claimed.map((c) => c.spec.id);
  const renewal = renewWhileWorking(deps, service.name, req.leaseMs);
  try {
    // 3. act: only on claims the head still holds as ours
    const acts = await actAuthorised(deps, claimed.map((c) => ({ service: service.name, id: c.spec.id, host: c.spec.host, kind: 'start' as const, run: (fleet) => startClaimed(input, fleet, c.spec) })));
    const outcomes: StartOutcome[] = acts.map((a, i) => {
      const { spec } = claimed[i]!;
      return a.done ? a.value : { id: spec.id, host: spec.host, address: spec.address, port: spec.port, outcome: 'not_started', reason: a.reason };
    });

    // 4. record
    const readyIds = outcomes.filter((o) => o.outcome === 'ready').map((o) => o.id);
    const hostOk = (host: string) => outcomes.filter((o) => o.host === host).every((o) => o.outcome === 'ready');
    const okHosts = ready.filter((h) => hostOk(h.job.host));
    const ok = okHosts.length > 0 && (allowPartial || (okHosts.length === ready.length && ready.length === jobs.length));
    const keep = ok ? readyIds.filter((id) => okHosts.some((h) => claimed.find((c) => c.spec.id === id)?.prepared === h)) : [];
    const drop = ids.filter((id) => !keep.includes(id));
    let recorded: Policy | undefined = written.policy;
    let refusal: Error | undefined;
    try {
      recorded = (await commitChange(deps, `${req.op} record`, (current) => {
        const mine = ownClaims(current, service.name, deps.owner.id);
        const now = deps.clock.now();
        let next = current;
        const failing = drop.filter((id) => mine.has(id));
        if (failing.length > 0) next = markFailed(next, service.name, failing, now);
        const activating = keep.filter((id) => mine.has(id));
        if (activating.length > 0) next = markActive(next, service.name, activating, now);
        if (ok && req.finish !== undefined) next = req.finish(next, keep);
        return next;
      })).policy;
    } catch (error) {
      // Unknown outcome: it may have landed (then these processes serve), so nothing is deleted.
      if (isSwitchyardError(error) && error.code === 'commit_unknown') throw error;
      refusal = error as Error;
      // The finish step was refused (the policy moved on): record every claim of ours failed instead.
      recorded = (await commitChange(deps, `${req.op} record failed`, (current) => {
        const mine = [...ownClaims(current, service.name, deps.owner.id)].filter((id) => ids.includes(id));
        return mine.length === 0 ? current : markFailed(current, service.name, mine, deps.clock.now());
      }).catch(() => undefined))?.policy;
    }

    // Deleting is authorised by the failed state the head now holds, and by nothing else. It goes through the
    // connection the start used: a PM2 that stopped answering is not replaced by a new, empty daemon just to look.
    const toDelete = claimed.filter((c) => (refusal === undefined ? drop : ids).includes(c.spec.id));
    const started = (host: string) => ready.find((h) => h.job.host === host)?.fleet;
    const sameFleets = {
      get: async (host: string) => (started(host)?.broken === true ? undefined : started(host)),
      require: async (host: string) => started(host) ?? deps.fleets.require(host),
    };
    const deletes = await actAuthorised({ ...deps, fleets: sameFleets }, toDelete.map((c) => ({ service: service.name, id: c.spec.id, host: c.spec.host, kind: 'delete' as const, run: (fleet) => fleet.remove(c.spec.id) })));
    const cleanup = new Map<string, string>();
    for (const d of deletes) {
      if (!d.done) cleanup.set(d.host, `${d.id} was not removed (${d.reason}); the router's reconcile loop deletes it once its entry says failed and PM2 answers`);
    }
    if (refusal !== undefined) throw refusal;
    const hostOutcomes = preparations.map((p) => (p.ok ? hostOutcome(p.host, outcomes, keep, cleanup.get(p.host.job.host)) : p.outcome));
    return { ok, partial: ok && (keep.length < ids.length || ready.length < jobs.length), processes: [...outcomes, ...preparations.flatMap((p) => (p.ok ? [] : p.processes))], hosts: hostOutcomes, claimed: ids, policy: recorded };
  } finally {
    renewal.stop();
  }
}

function inProgress(service: string, version: string, busy: readonly ProcessEntry[]) {
  return conflictError('deploy_in_progress', `Another command is starting ${service}@${version} (${busy.map((p) => `${p.id} by pid ${p.owner?.pid ?? '?'} on ${p.owner?.host ?? '?'}`).join(', ')}): wait for it, then run this again.`, { service, version });
}

function slotId(p: PlannedProcess, version: string, incarnation: string): string {
  const slot = Number(p.id.slice(p.id.lastIndexOf('#') + 1));
  return processId(p.id.slice(0, p.id.indexOf('@')), version, slot, incarnation);
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
