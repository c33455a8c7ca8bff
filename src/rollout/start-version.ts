import { dirname } from 'node:path';
import type { Config, ServiceConfig } from '../config/schema.js';
import { usageError } from '../core/errors.js';
import { planDeploy, withVersion } from '../core/plan-deploy.js';
import type { Policy } from '../core/policy-schema.js';
import type { NewProcess } from '../core/policy-transitions.js';
import type { FleetSet } from './fleets.js';
import { DEFAULT_PARALLEL, mapLimit } from './parallel.js';
import { PortBook } from './port-book.js';
import { startOnHost, type HostJob, type HostRun } from './start-host.js';

export type StartOutcomeKind = 'ready' | 'failed' | 'not_started';

export interface StartOutcome {
  id: string;
  host: string;
  address: string;
  port: number | null;
  outcome: StartOutcomeKind;
  reason?: string;
  readyMs?: number;
  /** The last log lines of a process that failed. */
  log?: string;
}

/** One host's result: ready, failed, removed (it was ready, another host failed) or skipped (not tried). */
export interface HostOutcome {
  host: string;
  address: string;
  outcome: 'ready' | 'failed' | 'removed' | 'skipped';
  reason?: string;
  /** The process ids planned on this host. */
  processes: string[];
  ports?: number[];
  /** Wall time of this host's steps. */
  ms: number;
  /** How the release was copied there (with --sync). */
  synced?: 'rsync' | 'tar' | 'copy' | 'none';
  /** Set when removing what was started there failed: those processes may still run. */
  cleanupError?: string;
}

export interface StartVersionInput {
  config: Config;
  /** The config file's folder: relative scripts on this machine are read from here. */
  dir: string;
  service: ServiceConfig;
  version: string;
  policy: Policy;
  fleets: FleetSet;
  token: string;
  env: NodeJS.ProcessEnv;
  onStep?: (message: string) => void;
  /** Only these of the service's hosts (default: all of them). */
  hosts?: readonly string[];
  /** Hosts worked on at once (default 8). */
  parallel?: number;
  /** Keep the hosts that became ready when others failed. */
  allowPartial?: boolean;
  /** Copy this local folder into the version's folder on each host first. */
  sync?: { from: string; folder: string };
}

export interface StartVersionResult {
  ok: boolean;
  /** Ok, but only some hosts (--allow-partial). */
  partial: boolean;
  processes: StartOutcome[];
  hosts: HostOutcome[];
  /** What to add to the policy when ok. */
  entries: NewProcess[];
}

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

function skipped(job: HostJob): HostRun {
  const reason = 'not tried: another host had already failed';
  return {
    outcome: { host: job.host, address: job.address, outcome: 'skipped', reason, processes: job.planned.map((p) => p.id), ms: 0 },
    processes: job.planned.map((p) => ({ id: p.id, host: p.host, address: p.address, port: null, outcome: 'not_started', reason })),
    started: [],
    fleet: undefined,
  };
}

/** Takes down what a host run started; a host that cannot be reached keeps a note saying so. */
async function undo(run: HostRun, because: string): Promise<void> {
  if (run.started.length > 0) {
    const fleet = run.fleet;
    const results = await Promise.allSettled(run.started.map((spec) => (fleet === undefined ? Promise.resolve() : fleet.remove(spec.id))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) run.outcome.cleanupError = `could not remove what was started: ${(failed.reason as Error).message}`;
  }
  if (run.outcome.outcome === 'ready') Object.assign(run.outcome, { outcome: 'removed', reason: because });
  for (const o of run.processes) if (o.outcome === 'ready') Object.assign(o, { outcome: 'not_started', reason: `removed: ${because}` });
}

/**
 * Starts every instance of a version on every host of the service, hosts in
 * parallel (at most `parallel` at once), and waits until each is ready. All
 * or nothing by default: if any host fails, what was started everywhere is
 * removed and the policy is left untouched. With allowPartial the hosts that
 * became ready are kept (if there is at least one). One result per host.
 */
export async function startVersion(input: StartVersionInput): Promise<StartVersionResult> {
  const { config, service, version } = input;
  const wanted = new Set(input.hosts ?? service.hosts);
  const hosts = service.hosts.map((name) => ({ name, address: config.hosts[name]!.address }));
  const plan = planDeploy({ service: service.name, version, hosts, instances: service.instances, ports: service.ports, script: service.script, cwd: service.cwd, policy: input.policy });
  const jobs: HostJob[] = hosts
    .filter((h) => wanted.has(h.name))
    .map((h) => ({ host: h.name, address: h.address, planned: plan.filter((p) => p.host === h.name) }));
  const book = new PortBook(config, input.policy, jobs.map((j) => j.host));
  const allowPartial = input.allowPartial === true;

  let anyFailed = false;
  const runs = await mapLimit(jobs, input.parallel ?? DEFAULT_PARALLEL, async (job) => {
    if (anyFailed && !allowPartial) return skipped(job);
    const run = await startOnHost(input, job, book);
    if (run.outcome.outcome !== 'ready') anyFailed = true;
    return run;
  });

  const ready = runs.filter((r) => r.outcome.outcome === 'ready');
  const ok = ready.length > 0 && (ready.length === runs.length || allowPartial);
  const failedHosts = runs.filter((r) => r.outcome.outcome === 'failed').map((r) => r.outcome.host);
  const because = failedHosts.length === 0 ? 'the deploy failed' : `host${failedHosts.length === 1 ? '' : 's'} ${failedHosts.join(', ')} failed`;
  const toUndo = ok ? runs.filter((r) => r.outcome.outcome !== 'ready') : runs;
  if (toUndo.some((r) => r.started.length > 0)) {
    input.onStep?.(`removing what was started for ${service.name}@${version} on ${toUndo.filter((r) => r.started.length > 0).map((r) => r.outcome.host).join(', ')}`);
  }
  await mapLimit(toUndo, input.parallel ?? DEFAULT_PARALLEL, (run) => undo(run, because));

  return {
    ok,
    partial: ok && ready.length < runs.length,
    processes: runs.flatMap((r) => r.processes),
    hosts: runs.map((r) => r.outcome),
    entries: ok ? ready.flatMap((r) => r.started.map((spec) => ({ id: spec.id, version, host: spec.host, address: spec.address, port: spec.port }))) : [],
  };
}
