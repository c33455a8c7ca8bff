import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { deriveKey, signRequest } from '../../dist/protocol/signing.js';
import { acceptedCounter, cpuSecondsOf, fleetPolicy, generationOf, pin, PROBE, PROBE_ID, redisCounters, tallyOf, writePolicy, type Fleet, type TallyEntry } from './fleet.js';
import { terminalsOf, type LoadJob, type LoadLoop } from './load.js';
import { runLoad } from './run-load.js';
import { percentile, sleep } from '../util.js';

/** The figures of bench/routers.ts, each measured against the fleet as it is (1 or 3 routers). */

/** What a measurement needs of the routers: the fleet on Redis, or one router alone on files. */
export type Routers = Pick<Fleet, 'token' | 'admin'> & { routers: Array<{ url: string; pid: number }> };

export interface Placement {
  /** Servers (routers, redis) on CPU 0 and the load on CPU 1. */
  pinned: boolean;
  /** Load-generating processes. */
  workers: number;
  /** Connections over all of them, spread evenly over the routers. */
  connections: number;
}

/** Connections spread over workers and routers: loop (worker w, router r, connection c). */
function loopsFor(fleet: Routers, p: Placement, worker: number): Array<{ url: string; router: number; slot: number }> {
  const perWorkerPerRouter = Math.max(1, Math.round(p.connections / p.workers / fleet.routers.length));
  return fleet.routers.flatMap((r, ri) => Array.from({ length: perWorkerPerRouter }, (_, c) => ({ url: r.url, router: ri, slot: worker * perWorkerPerRouter + c })));
}

export interface IngestResult {
  routers: number;
  /** One router with no coordination (its policy on files): the baseline. */
  alone: boolean;
  pinned: boolean;
  processes: number;
  connections: number;
  seconds: number;
  sent: number;
  accepted: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  failed: number;
  firstFailure: string | null;
  /** Every router's accepted counter moved, in sum, by the number of 204s. */
  counterExact: boolean;
  /** Every router's tally equals the sum of the last heartbeat of every process, fleet-wide. */
  tallyExact: boolean;
  /** ms from the end of the load until every router's tally was exact. */
  convergedMs: number;
  tallyProblem: string | null;
  /** CPU microseconds per accepted heartbeat: the routers together, the load generator, redis-server. */
  routerCpuUs: number;
  loadCpuUs: number;
  redisCpuUs: number;
  /** Cores used meanwhile by the routers together, the load generator and redis-server. */
  routerCores: number;
  loadCores: number;
  redisCores: number;
  /** Redis, per second of the run: heartbeat records written (SET), records read (GET inside the read script), read scripts. */
  redisSetsPerS: number;
  redisGetsPerS: number;
  redisEvalsPerS: number;
  /** Share of the machine other processes used during the load. */
  othersShare: number;
}

/**
 * `processes` heartbeat senders, process i sending to router i mod R only
 * (as a process sticks to the first router of its list), for `durationS`.
 * Then every router's tally must equal the expected sum within `settleMs`.
 */
export async function ingestRun(fleet: Routers, p: Placement, service: string, processes: number, durationS: number, settleMs: number, alone = false): Promise<IngestResult> {
  const R = fleet.routers.length;
  const jobs: LoadJob[] = Array.from({ length: p.workers }, (_, w) => {
    const loops = loopsFor(fleet, p, w);
    const slots = loops.length / R;
    const loopsOut: LoadLoop[] = loops.map((l) => ({ url: l.url, processes: [] as number[] }));
    for (let i = 0; i < processes; i++) {
      const r = i % R;
      const slot = Math.floor(i / R) % (slots * p.workers);
      if (Math.floor(slot / slots) !== w) continue;
      loopsOut[r * slots + (slot % slots)]!.processes!.push(i);
    }
    return { kind: 'heartbeat', loops: loopsOut, durationS, maxRequests: 5_000_000, token: fleet.token, service };
  });
  const clients = fleet.routers.map((r) => new Client(r.url));
  try {
    const before = await Promise.all(clients.map(acceptedCounter));
    const redis0 = await redisCounters(fleet.admin);
    const routerPids = fleet.routers.map((r) => r.pid);
    const cpu0 = routerPids.map(cpuSecondsOf);
    const t0 = performance.now();
    const { outputs, cpuS: loadCpuS, othersShare } = await runLoad(jobs, p.pinned);
    const wall = (performance.now() - t0) / 1000;
    const routerCpuS = routerPids.reduce((n, pid, i) => n + cpuSecondsOf(pid) - cpu0[i]!, 0);
    const redis1 = await redisCounters(fleet.admin);
    const sent = outputs.reduce((n, o) => n + o.sent, 0);
    const accepted = outputs.reduce((n, o) => n + o.ok, 0);
    const seconds = Math.max(...outputs.map((o) => o.seconds));
    const expected = new Map<string, number>();
    for (const o of outputs) {
      for (const [i, seq] of Object.entries(o.lastSeq)) for (const [v, n] of Object.entries(terminalsOf(Number(i), seq))) if (n > 0) expected.set(v, (expected.get(v) ?? 0) + n);
    }
    const settled = performance.now();
    let problem: string | null = 'not read';
    while (performance.now() - settled < settleMs) {
      const tallies = await Promise.all(clients.map((c) => tallyOf(c, fleet.token, service)));
      problem = tallies.map((t, i) => tallyDiff(t, expected, fleet.routers[i]!.url)).find((x) => x !== null) ?? null;
      if (problem === null) break;
      await sleep(20);
    }
    const convergedMs = performance.now() - settled;
    const after = await Promise.all(clients.map(acceptedCounter));
    const counted = after.reduce((n, a, i) => n + a - before[i]!, 0);
    const perK = (s: number) => (s * 1e6) / Math.max(1, accepted);
    return {
      routers: R,
      alone,
      pinned: p.pinned,
      processes,
      connections: jobs.reduce((n, j) => n + j.loops.length, 0),
      seconds,
      sent,
      accepted,
      rate: accepted / seconds,
      p50ms: Math.max(...outputs.map((o) => o.latencies.p50)),
      p99ms: Math.max(...outputs.map((o) => o.latencies.p99)),
      failed: outputs.reduce((n, o) => n + o.failed, 0),
      firstFailure: outputs.find((o) => o.firstFailure !== null)?.firstFailure ?? null,
      counterExact: counted === accepted,
      tallyExact: problem === null,
      convergedMs: problem === null ? convergedMs : NaN,
      tallyProblem: problem ?? (counted === accepted ? null : `accepted counters moved by ${counted}, 204s: ${accepted}`),
      routerCpuUs: perK(routerCpuS),
      loadCpuUs: perK(loadCpuS),
      redisCpuUs: perK(redis1.cpuS - redis0.cpuS),
      routerCores: routerCpuS / wall,
      loadCores: loadCpuS / seconds,
      redisCores: (redis1.cpuS - redis0.cpuS) / wall,
      redisSetsPerS: (redis1.set - redis0.set) / wall,
      redisGetsPerS: (redis1.get - redis0.get) / wall,
      redisEvalsPerS: (redis1.eval - redis0.eval) / wall,
      othersShare,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

function tallyDiff(tally: TallyEntry[], expected: Map<string, number>, who: string): string | null {
  const got = new Map(tally.map((e) => [e.version, e.terminals]));
  for (const [v, n] of expected) if (got.get(v) !== n) return `${who}: version ${v} tally ${got.get(v) ?? 0}, expected ${n}`;
  for (const [v, n] of got) if (!expected.has(v)) return `${who}: version ${v} tally ${n}, expected none`;
  return null;
}

export interface LoginResult {
  routers: number;
  pinned: boolean;
  connections: number;
  seconds: number;
  ok: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  failed: number;
  firstFailure: string | null;
  othersShare: number;
}

export async function loginRun(fleet: Routers, p: Placement, durationS: number, service: string): Promise<LoginResult> {
  const jobs: LoadJob[] = Array.from({ length: p.workers }, (_, w) => ({ kind: 'login', loops: loopsFor(fleet, p, w).map((l) => ({ url: l.url })), durationS, maxRequests: 5_000_000, service }));
  const { outputs, othersShare } = await runLoad(jobs, p.pinned);
  const ok = outputs.reduce((n, o) => n + o.ok, 0);
  const seconds = Math.max(...outputs.map((o) => o.seconds));
  return {
    routers: fleet.routers.length,
    pinned: p.pinned,
    connections: jobs.reduce((n, j) => n + j.loops.length, 0),
    seconds,
    ok,
    rate: ok / seconds,
    p50ms: Math.max(...outputs.map((o) => o.latencies.p50)),
    p99ms: Math.max(...outputs.map((o) => o.latencies.p99)),
    failed: outputs.reduce((n, o) => n + o.failed, 0),
    firstFailure: outputs.find((o) => o.firstFailure !== null)?.firstFailure ?? null,
    othersShare,
  };
}

/** Polls every router concurrently (one keep-alive connection each) until `seen` holds for each; ms per router from `t0`, NaN when not within the timeout. */
async function untilAll(clients: Client[], t0: number, seen: (c: Client) => Promise<boolean>, timeoutMs = 5000): Promise<number[]> {
  return Promise.all(
    clients.map(async (c) => {
      while (performance.now() - t0 < timeoutMs) {
        if (await seen(c)) return performance.now() - t0;
        await sleep(1);
      }
      return NaN;
    }),
  );
}

export interface Latency {
  samples: number;
  missed: number;
  p50: number;
  p99: number;
  max: number;
}

function latency(values: number[]): Latency {
  const ok = values.filter(Number.isFinite);
  return { samples: values.length, missed: values.length - ok.length, p50: percentile(ok, 50), p99: percentile(ok, 99), max: ok.length > 0 ? Math.max(...ok) : NaN };
}

/** Policy write (RedisStore commit) until every router's /healthz serves the new generation; small policies alternated. */
export async function policyPropagation(fleet: Fleet, writes: number): Promise<Latency> {
  const clients = fleet.routers.map((r) => new Client(r.url, { pipelining: 1 }));
  const all: number[] = [];
  try {
    for (let i = 0; i < writes; i++) {
      const t0 = performance.now();
      await writePolicy(fleet, fleetPolicy(0, (i % 2) as 0 | 1), false);
      const g = fleet.generation;
      const times = await untilAll(clients, t0, async (c) => (await generationOf(c)) === g);
      all.push(times.some((t) => Number.isNaN(t)) ? NaN : Math.max(...times));
      await sleep(5 + (i % 11));
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return latency(all);
}

/**
 * The probe process's heartbeat, sent to router k mod R, until every
 * router's tally shows its (new) terminal count; a random pause between
 * probes so they fall anywhere in the routers' read cycle.
 */
export async function heartbeatPropagation(fleet: Fleet, probes: number, seq0: number): Promise<Latency & { seq: number }> {
  const clients = fleet.routers.map((r) => new Client(r.url, { pipelining: 1 }));
  const key = deriveKey(fleet.token, PROBE_ID);
  const all: number[] = [];
  let seq = seq0;
  try {
    for (let k = 0; k < probes; k++) {
      seq++;
      const terminals = 1 + ((seq * 37) % 1000);
      const body = JSON.stringify({ service: PROBE, version: '1.0.0', process: PROBE_ID, seq, terminals: { '1.0.0': terminals } });
      const t0 = performance.now();
      const res = await clients[k % clients.length]!.request({ path: '/v1/heartbeat', method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(key, PROBE_ID, 'POST', '/v1/heartbeat', body) }, body });
      await res.body.dump();
      if (res.statusCode !== 204) throw new Error(`the probe heartbeat was answered ${res.statusCode}`);
      const times = await untilAll(clients, t0, async (c) => (await tallyOf(c, fleet.token, PROBE)).some((e) => e.version === '1.0.0' && e.terminals === terminals), 4 * fleet.intervalMs + 2000);
      all.push(times.some((t) => Number.isNaN(t)) ? NaN : Math.max(...times));
      await sleep(Math.floor(Math.random() * fleet.intervalMs * 0.3));
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return { ...latency(all), seq };
}

/** Pins the servers (every router and redis-server) to CPU 0, or lets them use every CPU again. */
export function placeServers(fleet: Fleet, pinned: boolean): boolean {
  const pids = [...fleet.routers.map((r) => r.pid), fleet.redis.pid() ?? -1];
  return pin(pids, pinned ? '0' : `0-${cpus().length - 1}`);
}
