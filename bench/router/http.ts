import { closeSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Pool } from 'undici';
import type { Policy, PolicyInput } from '../../dist/core/policy-schema.js';
import { deriveKey, signAsCli, signRequest } from '../../dist/protocol/signing.js';
import { PolicyStore } from '../../dist/store/policy-store.js';
import { ensureToken } from '../../dist/store/token.js';
import { compareTally, expectedTally, prng } from './inprocess.js';
import { percentile, sleep, spawnChild, stopChild, waitFor, type Child } from '../util.js';

/**
 * The real router (`switchyard router run`, in proxy mode, in a child
 * process) with its own config, state folder and PM2 home in a scratch
 * folder; and the figures that need it: heartbeats over HTTP and policy
 * propagation.
 */

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const SWITCHYARD_BIN = join(ROOT, 'bin', 'switchyard.js');

export interface RouterHandle {
  child: Child;
  port: number;
  url: string;
  token: string;
  store: PolicyStore;
  generation: number;
  dir: string;
  pm2Home: string;
}

export async function startRouter(dir: string, port: number, first: Policy, prefix: string[]): Promise<RouterHandle> {
  const stateDir = join(dir, 'state');
  // Short, and outside the project: the router does not use PM2 today, but if it ever connects, it must not touch ~/.pm2.
  const pm2Home = join(dir, 'pm2');
  await mkdir(stateDir, { recursive: true });
  const config = [
    'router:',
    `  listen: 127.0.0.1:${port}`,
    '  mode: proxy',
    '  heartbeatInterval: 5s',
    '  staleAfter: 3',
    'state: state',
    `pm2Home: ${pm2Home}`,
    'services:',
    '  bench:',
    '    script: backend.js',
    '    ports: 20000-20099',
    '',
  ].join('\n');
  await writeFile(join(dir, 'switchyard.config.yaml'), config);
  const store = new PolicyStore(stateDir);
  await store.init();
  const current = await store.read();
  const written = await store.write(first, current.generation);
  const { token } = await ensureToken(stateDir);
  const errFd = openSync(join(dir, 'router.log'), 'a');
  let child: Child;
  try {
    const [command, ...args] = [...prefix, process.execPath, SWITCHYARD_BIN, 'router', 'run', '--config', join(dir, 'switchyard.config.yaml')];
    child = await spawnChild('router', command!, args, { stderr: errFd, env: { ...process.env, PM2_HOME: pm2Home, NO_COLOR: '1' } });
  } finally {
    closeSync(errFd);
  }
  const handle: RouterHandle = { child, port, url: `http://127.0.0.1:${port}`, token, store, generation: written.generation, dir, pm2Home };
  const client = new Client(handle.url);
  try {
    await waitFor('the router to serve its policy', async () => (await healthGeneration(client)) === written.generation, 20_000);
  } catch (error) {
    await stopChild(child, 'SIGTERM');
    throw new Error(`${(error as Error).message}; see ${join(dir, 'router.log')}`);
  } finally {
    await client.close();
  }
  return handle;
}

export async function stopRouter(handle: RouterHandle): Promise<void> {
  // SIGINT is the router's graceful stop (it lets in-flight requests finish).
  await stopChild(handle.child, 'SIGINT', 12_000);
}

async function healthGeneration(client: Client): Promise<number | null> {
  const res = await client.request({ path: '/healthz', method: 'GET' });
  const body = (await res.body.json()) as { generation?: number | null };
  return body.generation ?? null;
}

/** Writes a new generation and waits until /healthz serves it. */
export async function publish(handle: RouterHandle, policy: Policy, timeoutMs = 10_000): Promise<void> {
  const written = await handle.store.write(policy, handle.generation);
  handle.generation = written.generation;
  const client = new Client(handle.url);
  try {
    await waitFor(`the router to load generation ${written.generation}`, async () => (await healthGeneration(client)) === written.generation, timeoutMs);
  } finally {
    await client.close();
  }
}

export interface PropagationResult {
  writes: number;
  processes: number;
  /** From calling PolicyStore.write until /healthz shows the new generation, ms. */
  endToEnd: { p50: number; p99: number; max: number };
  /** PolicyStore.write alone (history commit, fsync, rename), ms. */
  write: { p50: number; p99: number };
  /** From write() returning (file renamed in place) until /healthz shows it, ms. */
  afterRename: { p50: number; p99: number };
  /** Writes not seen within the timeout. */
  missed: number;
  othersShare?: number;
}

/**
 * `writes` new generations, alternating between two policies (so every write
 * is a real change), each time polling /healthz over one keep-alive
 * connection until the router serves it.
 */
export async function benchPropagation(handle: RouterHandle, policies: [Policy, Policy], writes: number, processes: number, timeoutMs = 5_000): Promise<PropagationResult> {
  const client = new Client(handle.url, { pipelining: 1 });
  const endToEnd: number[] = [];
  const writeMs: number[] = [];
  const after: number[] = [];
  let missed = 0;
  try {
    for (let i = 0; i < writes; i++) {
      const next = policies[i % 2]!;
      const t0 = performance.now();
      const written = await handle.store.write(next, handle.generation);
      const t1 = performance.now();
      handle.generation = written.generation;
      let seen = false;
      while (performance.now() - t1 < timeoutMs) {
        if ((await healthGeneration(client)) === written.generation) {
          seen = true;
          break;
        }
      }
      const t2 = performance.now();
      if (!seen) missed++;
      endToEnd.push(t2 - t0);
      writeMs.push(t1 - t0);
      after.push(t2 - t1);
      // A pause, so writes do not pile onto one watch event.
      await sleep(5 + (i % 7));
    }
  } finally {
    await client.close();
  }
  return {
    writes,
    processes,
    endToEnd: { p50: percentile(endToEnd, 50), p99: percentile(endToEnd, 99), max: Math.max(...endToEnd) },
    write: { p50: percentile(writeMs, 50), p99: percentile(writeMs, 99) },
    afterRename: { p50: percentile(after, 50), p99: percentile(after, 99) },
    missed,
  };
}

export const HB_SERVICE = 'hb';

/** The hb service's processes, so /v1/status reports their tally. */
export function heartbeatService(processes: number): NonNullable<PolicyInput['services']>[string] {
  return {
    target: '1.0.0',
    processes: Array.from({ length: processes }, (_, i) => ({ id: `${HB_SERVICE}@1.0.0#${i}`, version: '1.0.0', address: '127.0.0.1', port: 30_000 + i, state: 'active' as const })),
  };
}

export interface HeartbeatHttpResult {
  clients: number;
  processes: number;
  seconds: number;
  sent: number;
  accepted: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  /** Router's accepted-heartbeat counter moved by exactly `accepted`. */
  counterExact: boolean;
  tallyExact: boolean;
  problem: string | null;
  othersShare?: number;
}

async function acceptedCounter(pool: Pool): Promise<number> {
  const res = await pool.request({ path: '/metrics', method: 'GET' });
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_heartbeats_total{') && l.includes('outcome="accepted"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * `clients` concurrent clients (one keep-alive connection each), each
 * posting heartbeats in turn for its own processes with rising seq, for
 * `durationS` seconds. Then the router's tally must equal the sum of every
 * process's last accepted heartbeat, and its accepted counter must have
 * moved by the number of 204s.
 */
export async function benchHeartbeatHttp(handle: RouterHandle, clients: number, processes: number, durationS: number): Promise<HeartbeatHttpResult> {
  const pool = new Pool(handle.url, { connections: clients + 1, pipelining: 1 });
  const rand = prng(99);
  const terminalVersions = ['1.0.0', '0.9.0', '0.9.1', '0.8.0', '1.1.0-beta.1'];
  const seqs = new Map<string, number>();
  const last = new Map<string, Record<string, number>>();
  const latencies: number[] = [];
  let sent = 0;
  let accepted = 0;
  let refused = '';
  try {
    const before = await acceptedCounter(pool);
    // Each process signs with its own key, as the SDK does (docs/signing.md).
    const keys = new Map<string, string>();
    const keyOf = (id: string) => keys.get(id) ?? keys.set(id, deriveKey(handle.token, id)).get(id)!;
    const t0 = performance.now();
    const deadline = t0 + durationS * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, w) => {
        const mine = Array.from({ length: processes }, (_, i) => i).filter((i) => i % clients === w).map((i) => `${HB_SERVICE}@1.0.0#${i}`);
        for (let k = 0; performance.now() < deadline && mine.length > 0; k++) {
          const id = mine[k % mine.length]!;
          const seq = (seqs.get(id) ?? 0) + 1;
          seqs.set(id, seq);
          const terminals: Record<string, number> = {};
          for (const v of terminalVersions) terminals[v] = Math.floor(rand() * 200);
          const body = JSON.stringify({ service: HB_SERVICE, version: '1.0.0', process: id, seq, terminals });
          const s = performance.now();
          const headers = { 'content-type': 'application/json', ...signRequest(keyOf(id), id, 'POST', '/v1/heartbeat', body) };
          const res = await pool.request({ path: '/v1/heartbeat', method: 'POST', headers, body });
          const text = await res.body.text();
          latencies.push(performance.now() - s);
          sent++;
          if (res.statusCode === 204) {
            accepted++;
            last.set(id, terminals);
          } else if (refused === '') {
            refused = `heartbeat answered ${res.statusCode}: ${text.slice(0, 200)}`;
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = await acceptedCounter(pool);
    const res = await pool.request({ path: '/v1/status', method: 'GET', headers: signAsCli(handle.token, 'GET', '/v1/status') });
    const status = (await res.body.json()) as { services?: Record<string, { tally?: Array<{ version: string; terminals: number; share: number }> }> };
    const tally = status.services?.[HB_SERVICE]?.tally ?? [];
    const tallyProblem = compareTally(tally, expectedTally(last));
    const counterExact = after - before === accepted;
    const problem = refused || tallyProblem || (counterExact ? null : `accepted counter moved by ${after - before}, expected ${accepted}`);
    return {
      clients,
      processes,
      seconds,
      sent,
      accepted,
      rate: accepted / seconds,
      p50ms: percentile(latencies, 50),
      p99ms: percentile(latencies, 99),
      counterExact,
      tallyExact: tallyProblem === null,
      problem: problem === '' ? null : problem,
    };
  } finally {
    await pool.close();
  }
}
