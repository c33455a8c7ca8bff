import { dirname, posix } from 'node:path';
import { advertisedRouterUrl } from '../config/router-url.js';
import type { PlannedProcess } from '../core/plan-deploy.js';
import type { Fleet, ProcessSpec } from '../fleet/fleet.js';
import { waitReady } from '../fleet/readiness.js';
import type { PortBook } from './port-book.js';
import { processEnv } from './process-env.js';
import type { HostOutcome, StartOutcome, StartVersionInput } from './start-version.js';

export interface HostJob {
  host: string;
  address: string;
  /** This host's share of the plan (its instances). */
  planned: PlannedProcess[];
}

export interface HostRun {
  outcome: HostOutcome;
  processes: StartOutcome[];
  /** What was handed to PM2 on this host, whether or not it became ready: what a clean-up removes. */
  started: ProcessSpec[];
  fleet: Fleet | undefined;
}

const LOG_LINES = 20;
/** A remote `pm2 jlist` costs an ssh round trip and ~0.5 s of CPU there: look for a crash at most this often while waiting. */
const REMOTE_CRASH_CHECK_MS = 2500;

function failedRun(job: HostJob, started: number, reason: string, fleet?: Fleet, spec?: Partial<HostOutcome>): HostRun {
  return {
    outcome: { host: job.host, address: job.address, outcome: 'failed', reason, processes: job.planned.map((p) => p.id), ms: Date.now() - started, ...spec },
    processes: job.planned.map((p) => ({ id: p.id, host: p.host, address: p.address, port: null, outcome: 'failed', reason })),
    started: [],
    fleet,
  };
}

/**
 * One host's part of a deploy: reach it, copy the release when asked, check
 * the script and free ports on the host itself, start every instance, and
 * wait from here (where the router runs) until each answers at the host's
 * address. Never throws: every failure is a result naming the host.
 */
export async function startOnHost(input: StartVersionInput, job: HostJob, book: PortBook): Promise<HostRun> {
  const t0 = Date.now();
  const step = (m: string) => input.onStep?.(m);
  const first = job.planned[0]!;
  let fleet: Fleet;
  try {
    fleet = await input.fleets.require(job.host);
  } catch (error) {
    return failedRun(job, t0, (error as Error).message);
  }

  let synced: HostOutcome['synced'];
  if (input.sync !== undefined) {
    const dir = fleet.resolvePath(input.sync.folder, input.dir);
    step(`copying ${input.sync.from} to ${job.host}:${dir}`);
    try {
      synced = await fleet.copyFolder(input.sync.from, dir);
    } catch (error) {
      return failedRun(job, t0, (error as Error).message, fleet);
    }
  }

  const script = fleet.resolvePath(first.script, input.dir);
  if (/\s/.test(script)) {
    // PM2 runs a script path containing a space through `bash -c` and drops its
    // arguments: the path would be read by a shell. Refuse it rather than run it so.
    return failedRun(job, t0, `the script path ${JSON.stringify(script)} contains white space, which PM2 would hand to a shell: move the release to a path without spaces, or point services.${input.service.name}.script at one`, fleet, { synced });
  }
  const candidates = book.candidatesFor(job.host, first.candidatePorts);
  let probe;
  try {
    probe = await fleet.probe(script, candidates, job.planned.length * book.sharers(job.host));
  } catch (error) {
    return failedRun(job, t0, (error as Error).message, fleet, { synced });
  }
  if (!probe.scriptFound) {
    const how = fleet.remote ? `copy version ${input.version} there (deploy --sync <dir> does it)` : `put version ${input.version} there`;
    return failedRun(job, t0, `no script at ${script} on host ${job.host}: ${how}, or fix services.${input.service.name}.script`, fleet, { synced });
  }
  const ports = book.take(job.host, probe.freePorts, job.planned.length);
  if (ports === undefined) {
    const { from, to } = input.service.ports;
    return failedRun(job, t0, `no free port of ${from}-${to} can be bound on host ${job.host}: other programs hold them`, fleet, { synced });
  }

  const started: ProcessSpec[] = [];
  const processes = await Promise.all(job.planned.map((p, i) => startProcess(input, fleet, p, ports[i]!, script, started)));
  const ready = processes.every((o) => o.outcome === 'ready');
  const failure = processes.find((o) => o.outcome !== 'ready');
  return {
    outcome: {
      host: job.host,
      address: job.address,
      outcome: ready ? 'ready' : 'failed',
      ...(failure?.reason === undefined ? {} : { reason: failure.reason }),
      processes: job.planned.map((p) => p.id),
      ports,
      ms: Date.now() - t0,
      ...(synced === undefined ? {} : { synced }),
    },
    processes,
    started,
    fleet,
  };
}

async function startProcess(input: StartVersionInput, fleet: Fleet, p: PlannedProcess, port: number, script: string, started: ProcessSpec[]): Promise<StartOutcome> {
  const base = { id: p.id, host: p.host, address: p.address };
  const spec: ProcessSpec = {
    id: p.id,
    service: input.service.name,
    version: input.version,
    host: p.host,
    address: p.address,
    port,
    script,
    args: input.service.args,
    cwd: p.cwd !== undefined ? fleet.resolvePath(p.cwd, input.dir) : fleet.remote ? posix.dirname(script) : dirname(script),
    // A remote process gets its environment from its own host, not from this machine.
    env: processEnv({ base: fleet.remote ? {} : input.env, config: input.config, service: input.service, routerUrl: advertisedRouterUrl(input.config), token: input.token, version: input.version, id: p.id, port }),
    killTimeoutMs: input.service.killTimeoutMs,
  };
  const tail = () => fleet.logTail(p.id, LOG_LINES).catch(() => '');
  input.onStep?.(`starting ${p.id} on ${p.host}, port ${port}`);
  try {
    await fleet.start(spec);
  } catch (error) {
    return { ...base, port, outcome: 'failed', reason: (error as Error).message, log: await tail() };
  } finally {
    started.push(spec);
  }
  let lastCheck = Date.now();
  const crashed = async (): Promise<string | undefined> => {
    if (fleet.remote && Date.now() - lastCheck < REMOTE_CRASH_CHECK_MS) return undefined;
    lastCheck = Date.now();
    const listed = await fleet.list().catch(() => undefined);
    if (listed === undefined) return undefined;
    const seen = listed.find((f) => f.id === p.id);
    if (seen === undefined) return 'it is gone from PM2';
    if (seen.status === 'errored' || seen.status === 'stopped') return `PM2 reports it ${seen.status}`;
    if (seen.restarts > 0) return `it exited and PM2 restarted it ${seen.restarts} time${seen.restarts === 1 ? '' : 's'}`;
    return undefined;
  };
  const readiness = await waitReady({ address: p.address, port, httpPath: input.service.readiness.http }, input.service.readiness.timeoutMs, crashed);
  if (!readiness.ready) {
    return { ...base, port, outcome: 'failed', reason: `${p.id} did not become ready at ${p.address}:${port}: ${readiness.reason}`, log: await tail() };
  }
  input.onStep?.(`${p.id} ready on ${p.host} in ${readiness.waitedMs} ms`);
  return { ...base, port, outcome: 'ready', readyMs: readiness.waitedMs };
}
