import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'undici';
import type { Policy, PolicyInput } from '../../dist/core/policy-schema.js';
import { RedisStore } from '../../dist/store/redis-store.js';
import { ensureToken } from '../../dist/store/token.js';
import { spawnProjectRouter, type ProjectRouter } from '../../test/helpers/redis-routers.js';
import { startRedis, type RedisServer } from '../../test/helpers/redis-server.js';
import { cliHeaders } from '../../test/helpers/signed.js';
import { checked } from '../router/policies.js';
import { hbProcessId } from './load.js';
import { commandOutput, freePort, waitFor } from '../util.js';

/**
 * The fleet of bench/routers.ts: a real redis-server (AOF on, appendfsync
 * always, as the docs advise for the policy), one project folder whose config
 * puts coordination on it, and up to three real routers (`switchyard router
 * run`, SWITCHYARD_ROUTER_LISTEN) on that project. No PM2 daemon is ever
 * started: the routers only look for one (pm2Home is in the scratch folder).
 */

export const HB = 'hb';
export const LOBBY = 'lobby';
export const PROBE = 'probe';
export const PROBE_ID = `${PROBE}@1.0.0#0`;

export interface Fleet {
  redis: RedisServer;
  /** A client of the bench's own, for INFO. */
  admin: Redis;
  store: RedisStore;
  generation: number;
  dir: string;
  token: string;
  prefix: string;
  routers: ProjectRouter[];
  intervalMs: number;
}

const active = (id: string, version: string, port: number) => ({ id, version, address: '127.0.0.1', port, state: 'active' as const });

/**
 * The policy: a lobby of `lobby` processes (logins), the probe process, and
 * `hb` processes named <hbService>@1.0.0#<i> for the heartbeat load (none
 * in the small policy; a new service name for each load run, so no run
 * inherits records, seqs or staleness from another). `variant` changes the lobby's size by one, so alternating
 * variants makes every write a real change.
 */
export function fleetPolicy(hb: number, variant: 0 | 1, hbService = HB): Policy {
  const lobby = 4 + variant;
  const services: NonNullable<PolicyInput['services']> = {
    [LOBBY]: { target: '1.0.0', processes: Array.from({ length: lobby }, (_, i) => active(`${LOBBY}@1.0.0#${i}`, '1.0.0', 21_000 + i)) },
    [PROBE]: { target: '1.0.0', processes: [active(PROBE_ID, '1.0.0', 21_100)] },
  };
  if (hb > 0) services[hbService] = { target: '1.0.0', processes: Array.from({ length: hb }, (_, i) => active(hbProcessId(hbService, i), '1.0.0', 30_000 + i)) };
  return checked({ schema: 1, generation: 0, services });
}

export async function makeFleet(dir: string, intervalMs: number, staleAfter: number): Promise<Fleet> {
  const redis = await startRedis();
  const prefix = `sy-bench-routers-${process.pid}`;
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { recursive: true });
  const config = [
    'router:',
    `  listen: 127.0.0.1:${await freePort()}`,
    '  mode: proxy',
    `  heartbeatInterval: ${intervalMs}ms`,
    `  staleAfter: ${staleAfter}`,
    'state: state',
    `pm2Home: ${join(dir, 'pm2')}`,
    `coordination: { redis: "${redis.url}", prefix: ${prefix} }`,
    'services:',
    `  ${LOBBY}:`,
    '    script: backend.js',
    '    ports: 20000-20099',
    '',
  ].join('\n');
  await writeFile(join(dir, 'switchyard.config.yaml'), config);
  const { token } = await ensureToken(stateDir);
  const store = new RedisStore({ url: redis.url, prefix });
  await store.init();
  const head = await store.read();
  const admin = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 2 });
  return { redis, admin, store, generation: head.generation, dir, token, prefix, routers: [], intervalMs };
}

export async function stopFleet(fleet: Fleet): Promise<void> {
  await Promise.all(fleet.routers.splice(0).map((r) => r.stop()));
  fleet.admin.disconnect();
  await fleet.store.close().catch(() => undefined);
  await fleet.redis.stop();
}

/** Starts or stops routers (the newest first) until `count` run; every one serves the current generation. */
export async function setRouters(fleet: Fleet, count: number): Promise<void> {
  while (fleet.routers.length > count) await fleet.routers.pop()!.stop();
  while (fleet.routers.length < count) {
    fleet.routers.push(await spawnProjectRouter(fleet.dir, { PM2_HOME: join(fleet.dir, 'pm2') }, fleet.token));
  }
  for (const r of fleet.routers) await r.waitStatus((s) => s.generation === fleet.generation && s.routers?.length === count, 20_000);
}

/** GET /healthz's generation over a keep-alive client. */
export async function generationOf(client: Client): Promise<number | null> {
  const res = await client.request({ path: '/healthz', method: 'GET' });
  const body = (await res.body.json()) as { generation?: number | null };
  return body.generation ?? null;
}

/** Writes a policy as the next generation; with `wait`, returns once every router serves it. */
export async function writePolicy(fleet: Fleet, policy: Policy, wait = true): Promise<void> {
  const written = await fleet.store.write(policy, fleet.generation);
  fleet.generation = written.generation;
  if (!wait) return;
  await Promise.all(
    fleet.routers.map(async (r) => {
      const client = new Client(r.url);
      try {
        await waitFor(`${r.url} to serve generation ${written.generation}`, async () => (await generationOf(client)) === written.generation, 30_000);
      } finally {
        await client.close();
      }
    }),
  );
}

export interface TallyEntry {
  version: string;
  terminals: number;
}

/** One service's tally in a router's /v1/status (signed with the CLI's key). */
export async function tallyOf(client: Client, token: string, service: string): Promise<TallyEntry[]> {
  const res = await client.request({ path: '/v1/status', method: 'GET', headers: cliHeaders(token) });
  if (res.statusCode !== 200) throw new Error(`/v1/status answered ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
  const body = (await res.body.json()) as { services?: Record<string, { tally?: TallyEntry[] }> };
  return body.services?.[service]?.tally ?? [];
}

/** The router's switchyard_heartbeats_total{outcome="accepted"} (open on loopback). */
export async function acceptedCounter(client: Client): Promise<number> {
  const res = await client.request({ path: '/metrics', method: 'GET' });
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_heartbeats_total{') && l.includes('outcome="accepted"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export interface RedisCounters {
  set: number;
  get: number;
  eval: number;
  cpuS: number;
}

/** Calls of SET, GET (also inside scripts) and EVAL since the server started, and its CPU seconds. */
export async function redisCounters(admin: Redis): Promise<RedisCounters> {
  const stats = await admin.info('commandstats');
  const cpu = await admin.info('cpu');
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  const num = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  return { set: calls('set'), get: calls('get'), eval: calls('eval') + calls('evalsha'), cpuS: num('used_cpu_user') + num('used_cpu_sys') };
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return ((f[11] ?? 0) + (f[12] ?? 0)) / 100;
  } catch {
    return NaN;
  }
}

/** Sets the CPUs every thread of these processes may run on (taskset -a -p); false when taskset is missing or fails. */
export function pin(pids: number[], cpus: string): boolean {
  return pids.every((pid) => commandOutput('taskset', ['-a', '-cp', cpus, String(pid)])?.includes('new affinity') === true);
}
