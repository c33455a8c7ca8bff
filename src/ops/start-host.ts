import { dirname, posix } from 'node:path';
import { advertisedRouterUrl } from '../config/router-url.js';
import type { PlannedProcess } from '../core/plan-deploy.js';
import type { Fleet, ProcessSpec } from '../fleet/fleet.js';
import { pm2Health } from '../core/pm2-health.js';
import { waitReady } from '../fleet/readiness.js';
import type { PortBook } from './port-book.js';
import { processEnv } from './process-env.js';
import type { HostOutcome, LaunchInput, StartOutcome } from './launch-types.js';

export interface HostJob {
  host: string;
  address: string;
  /** This host's share of the plan (its instances). */
  planned: PlannedProcess[];
}

/** A host made ready to start on: reached, release copied, script found, ports chosen. Nothing started yet. */
export interface PreparedHost {
  job: HostJob;
  fleet: Fleet;
  script: string;
  ports: number[];
  synced?: HostOutcome['synced'];
  startedAt: number;
}

export type Preparation = { ok: true; host: PreparedHost } | { ok: false; outcome: HostOutcome; processes: StartOutcome[] };

const LOG_LINES = 20;
/** A remote `pm2 jlist` costs an ssh round trip and ~0.5 s of CPU there: look for a crash at most this often while waiting. */
const REMOTE_CRASH_CHECK_MS = 2500;

export function failedHost(job: HostJob, started: number, reason: string, extra?: Partial<HostOutcome>): Preparation & { ok: false } {
  return {
    ok: false,
    outcome: { host: job.host, address: job.address, outcome: 'failed', reason, processes: job.planned.map((p) => p.id), ms: Date.now() - started, ...extra },
    processes: job.planned.map((p) => ({ id: p.id, host: p.host, address: p.address, port: null, outcome: 'failed', reason })),
  };
}

/**
 * One host's preparation: reach it, copy the release when asked, check the
 * script and free ports on the host itself. No process is started here:
 * starting needs a committed claim first. Never throws.
 */
export async function prepareHost(input: LaunchInput, job: HostJob, book: PortBook): Promise<Preparation> {
  const t0 = Date.now();
  const first = job.planned[0]!;
  let fleet: Fleet;
  try {
    fleet = await input.fleets.require(job.host);
  } catch (error) {
    return failedHost(job, t0, (error as Error).message);
  }
  let synced: HostOutcome['synced'];
  if (input.sync !== undefined) {
    const dir = fleet.resolvePath(input.sync.folder, input.dir);
    input.onStep?.(`copying ${input.sync.from} to ${job.host}:${dir}`);
    try {
      synced = await fleet.copyFolder(input.sync.from, dir);
    } catch (error) {
      return failedHost(job, t0, (error as Error).message);
    }
  }
  const extra = synced === undefined ? {} : { synced };
  const script = fleet.resolvePath(first.script, input.dir);
  if (/\s/.test(script)) {
    // PM2 runs a script path containing a space through `bash -c` and drops its
    // arguments: the path would be read by a shell. Refuse it rather than run it so.
    return failedHost(job, t0, `the script path ${JSON.stringify(script)} contains white space, which PM2 would hand to a shell: move the release to a path without spaces, or point services.${input.service.name}.script at one`, extra);
  }
  let probe;
  try {
    probe = await fleet.probe(script, book.candidatesFor(job.host, first.candidatePorts), job.planned.length * book.sharers(job.host));
  } catch (error) {
    return failedHost(job, t0, (error as Error).message, extra);
  }
  if (!probe.scriptFound) {
    const how = fleet.remote ? `copy version ${input.version} there (deploy --sync <dir> does it)` : `put version ${input.version} there`;
    return failedHost(job, t0, `no script at ${script} on host ${job.host}: ${how}, or fix services.${input.service.name}.script`, extra);
  }
  const ports = book.take(job.host, probe.freePorts, job.planned.length);
  if (ports === undefined) {
    const { from, to } = input.service.ports;
    return failedHost(job, t0, `no free port of ${from}-${to} can be bound on host ${job.host}: other programs hold them`, extra);
  }
  return { ok: true, host: { job, fleet, script, ports, ...extra, startedAt: t0 } };
}

/** The spec PM2 is given for one claimed process. */
export function specFor(input: LaunchInput, prepared: PreparedHost, p: PlannedProcess, id: string, port: number): ProcessSpec {
  const { fleet, script } = prepared;
  return {
    id,
    service: input.service.name,
    version: input.version,
    host: p.host,
    address: p.address,
    port,
    script,
    args: input.service.args,
    cwd: p.cwd !== undefined ? fleet.resolvePath(p.cwd, input.dir) : fleet.remote ? posix.dirname(script) : dirname(script),
    // A remote process gets its environment from its own host, not from this machine.
    env: processEnv({ base: fleet.remote ? {} : input.env, config: input.config, service: input.service, routerUrl: advertisedRouterUrl(input.config), token: input.token, version: input.version, id, port }),
    killTimeoutMs: input.service.killTimeoutMs,
  };
}

/** Starts one claimed process and waits until it answers. Never throws. */
export async function startClaimed(input: LaunchInput, fleet: Fleet, spec: ProcessSpec): Promise<StartOutcome> {
  const base = { id: spec.id, host: spec.host, address: spec.address };
  const tail = () => fleet.logTail(spec.id, LOG_LINES).catch(() => '');
  input.onStep?.(`starting ${spec.id} on ${spec.host}, port ${spec.port}`);
  try {
    await fleet.start(spec);
  } catch (error) {
    return { ...base, port: spec.port, outcome: 'failed', reason: (error as Error).message, log: await tail() };
  }
  let lastCheck = Date.now();
  const crashed = async (): Promise<string | undefined> => {
    if (fleet.remote && Date.now() - lastCheck < REMOTE_CRASH_CHECK_MS) return undefined;
    lastCheck = Date.now();
    const listed = await fleet.list().catch(() => undefined);
    // A daemon that stopped answering cannot vouch for the process: give up rather than wait it out.
    if (listed === undefined) return fleet.broken === true ? 'PM2 stopped answering while it was starting' : undefined;
    const seen = listed.find((f) => f.id === spec.id);
    if (seen === undefined) return 'it is gone from PM2';
    if (pm2Health(seen.status) === 'gone') return `PM2 reports it ${seen.status}`;
    if (seen.restarts > 0) return `it exited and PM2 restarted it ${seen.restarts} time${seen.restarts === 1 ? '' : 's'}`;
    return undefined;
  };
  const readiness = await waitReady({ address: spec.address, port: spec.port, httpPath: input.service.readiness.http }, input.service.readiness.timeoutMs, crashed);
  if (!readiness.ready) {
    return { ...base, port: spec.port, outcome: 'failed', reason: `${spec.id} did not become ready at ${spec.address}:${spec.port}: ${readiness.reason}`, log: await tail() };
  }
  input.onStep?.(`${spec.id} ready on ${spec.host} in ${readiness.waitedMs} ms`);
  return { ...base, port: spec.port, outcome: 'ready', readyMs: readiness.waitedMs };
}
