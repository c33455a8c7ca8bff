import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config, ServiceConfig } from '../config/schema.js';
import { routerUrl } from '../config/router-url.js';
import { planDeploy, type PlannedProcess } from '../core/plan-deploy.js';
import type { Policy } from '../core/policy-schema.js';
import type { NewProcess } from '../core/policy-transitions.js';
import type { ProcessSpec } from '../fleet/fleet.js';
import { canBind, takePort } from '../fleet/ports.js';
import { waitReady } from '../fleet/readiness.js';
import type { FleetSet } from './fleets.js';
import { processEnv } from './process-env.js';

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

export interface StartVersionInput {
  config: Config;
  /** The config file's folder: relative scripts are read from here. */
  dir: string;
  service: ServiceConfig;
  version: string;
  policy: Policy;
  fleets: FleetSet;
  token: string;
  env: NodeJS.ProcessEnv;
  onStep?: (message: string) => void;
}

export interface StartVersionResult {
  ok: boolean;
  processes: StartOutcome[];
  /** What to add to the policy when ok. */
  entries: NewProcess[];
}

const LOG_LINES = 20;

function localPath(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

/**
 * Starts every instance of a version on every host of the service, waits
 * until each is ready, and on any failure removes every process it started:
 * all or nothing, the policy untouched. Returns one outcome per process.
 */
export async function startVersion(input: StartVersionInput): Promise<StartVersionResult> {
  const { config, service, version } = input;
  const hosts = service.hosts.map((name) => ({ name, address: config.hosts[name]!.address }));
  const plan = planDeploy({ service: service.name, version, hosts, instances: service.instances, ports: service.ports, script: service.script, cwd: service.cwd, policy: input.policy });

  const missing = plan.filter((p) => !existsSync(localPath(input.dir, p.script)));
  if (missing.length > 0) {
    return {
      ok: false,
      entries: [],
      processes: plan.map((p) => ({
        id: p.id, host: p.host, address: p.address, port: null, outcome: missing.includes(p) ? 'failed' : 'not_started',
        reason: missing.includes(p) ? `no script at ${localPath(input.dir, p.script)}: put version ${version} there, or fix services.${service.name}.script` : 'another process of this version could not start',
      })),
    };
  }

  const taken = new Map<string, Set<number>>();
  const started: Array<{ spec: ProcessSpec }> = [];
  const outcomes = await Promise.all(plan.map((p) => startOne(input, p, taken, started)));
  const ok = outcomes.every((o) => o.outcome === 'ready');
  if (!ok) {
    input.onStep?.(`removing the ${started.length} process${started.length === 1 ? '' : 'es'} started for ${service.name}@${version}`);
    await Promise.allSettled(started.map(async ({ spec }) => (await input.fleets.require(spec.host)).remove(spec.id)));
    for (const o of outcomes) if (o.outcome === 'ready') Object.assign(o, { outcome: 'not_started', reason: 'removed: another process of this version failed' });
  }
  return {
    ok,
    processes: outcomes,
    entries: ok ? started.map(({ spec }) => ({ id: spec.id, version, host: spec.host, address: spec.address, port: spec.port })) : [],
  };
}

async function startOne(input: StartVersionInput, p: PlannedProcess, taken: Map<string, Set<number>>, started: Array<{ spec: ProcessSpec }>): Promise<StartOutcome> {
  const base = { id: p.id, host: p.host, address: p.address };
  const hostTaken = taken.get(p.host) ?? new Set<number>();
  taken.set(p.host, hostTaken);
  const port = await takePort(p.candidatePorts, hostTaken, (candidate) => canBind(candidate));
  if (port === undefined) {
    return { ...base, port: null, outcome: 'failed', reason: `no port of ${input.service.ports.from}-${input.service.ports.to} can be bound on ${p.host}: other programs hold them` };
  }
  const script = localPath(input.dir, p.script);
  const spec: ProcessSpec = {
    id: p.id,
    service: input.service.name,
    version: input.version,
    host: p.host,
    address: p.address,
    port,
    script,
    args: input.service.args,
    cwd: p.cwd === undefined ? dirname(script) : localPath(input.dir, p.cwd),
    env: processEnv({ base: input.env, config: input.config, service: input.service, routerUrl: routerUrl(input.config), token: input.token, version: input.version, id: p.id, port }),
    killTimeoutMs: input.service.killTimeoutMs,
  };
  const fleet = await input.fleets.require(p.host);
  input.onStep?.(`starting ${p.id} on ${p.host}, port ${port}`);
  try {
    await fleet.start(spec);
  } catch (error) {
    return { ...base, port, outcome: 'failed', reason: (error as Error).message, log: await fleet.logTail(p.id, LOG_LINES) };
  } finally {
    started.push({ spec });
  }
  const crashed = async (): Promise<string | undefined> => {
    const seen = (await fleet.list()).find((f) => f.id === p.id);
    if (seen === undefined) return 'it is gone from PM2';
    if (seen.status === 'errored' || seen.status === 'stopped') return `PM2 reports it ${seen.status}`;
    if (seen.restarts > 0) return `it exited and PM2 restarted it ${seen.restarts} time${seen.restarts === 1 ? '' : 's'}`;
    return undefined;
  };
  const readiness = await waitReady({ address: p.address, port, httpPath: input.service.readiness.http }, input.service.readiness.timeoutMs, crashed);
  if (!readiness.ready) {
    return { ...base, port, outcome: 'failed', reason: `${p.id} did not become ready: ${readiness.reason}`, log: await fleet.logTail(p.id, LOG_LINES) };
  }
  input.onStep?.(`${p.id} ready in ${readiness.waitedMs} ms`);
  return { ...base, port, outcome: 'ready', readyMs: readiness.waitedMs };
}
