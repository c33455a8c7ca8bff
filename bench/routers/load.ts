/**
 * One load-generating process for bench/routers.ts (a child process, so it
 * can be pinned with taskset). It reads its job as one JSON line on stdin,
 * says "ready", waits for a "go" line, runs, and prints its result as one
 * JSON line on stdout. Bounded in time (deadline, hard stop at 2×) and count.
 *
 * heartbeat: each loop owns one keep-alive connection to one router and a
 *   disjoint list of process ids; it posts signed heartbeats for them in
 *   turn with rising seq (signed as the SDK does, src/protocol/signing.ts), so no
 *   two heartbeats of one process are ever in flight at once. A loop goes on
 *   past the deadline until it has sent once for each of its processes, so
 *   every process's last heartbeat is from this run.
 * login: each loop posts POST /v1/login for the job's service on its own connection.
 */
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { deriveKey, signRequest } from '../../dist/protocol/signing.js';

export interface LoadLoop {
  url: string;
  /** heartbeat: indexes of the processes this loop speaks for. */
  processes?: number[];
}

export interface LoadJob {
  kind: 'heartbeat' | 'login';
  loops: LoadLoop[];
  durationS: number;
  maxRequests: number;
  /** heartbeat: the router's secret and the service (its processes start at seq 1). */
  token?: string;
  service?: string;
}

export interface LoadOutput {
  sent: number;
  ok: number;
  /** Answers that were not the expected 204 (heartbeat) or 200 (login), and socket errors; the first one, spelled out. */
  failed: number;
  firstFailure: string | null;
  seconds: number;
  /** Requests sent before the deadline, per second of the deadline window. */
  latencies: { p50: number; p99: number };
  /** heartbeat: the last seq answered 204, per process index. */
  lastSeq: Record<string, number>;
  /** CPU seconds this process used for the run (user + system). */
  cpuS: number;
}

/** The terminal counts a process reports with a given seq: deterministic, so the expected tally follows from the seqs. */
export function terminalsOf(index: number, seq: number): Record<string, number> {
  return { '1.0.0': (index * 7919 + seq * 104_729) % 97, '0.9.0': (index + seq) % 13, '0.8.0': (index * seq) % 5 };
}

export const hbProcessId = (service: string, index: number): string => `${service}@1.0.0#${index}`;

function percentiles(values: number[]): { p50: number; p99: number } {
  if (values.length === 0) return { p50: NaN, p99: NaN };
  values.sort((a, b) => a - b);
  const at = (p: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1))]!;
  return { p50: at(50), p99: at(99) };
}

async function run(job: LoadJob): Promise<LoadOutput> {
  const lastSeq: Record<string, number> = {};
  const seqs = new Map<number, number>();
  const keys = new Map<number, string>();
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  const t0 = performance.now();
  const deadline = t0 + job.durationS * 1000;
  const hardStop = t0 + job.durationS * 2000;
  const service = job.service ?? 'hb';
  const loginBody = JSON.stringify({ service, version: '1.0.0' });
  const cpu0 = process.cpuUsage();
  const fail = (what: string) => {
    failed++;
    firstFailure ??= what;
  };
  await Promise.all(
    job.loops.map(async (loop) => {
      const client = new Client(loop.url, { pipelining: 1 });
      const mine = loop.processes ?? [];
      try {
        for (let k = 0; sent < job.maxRequests; k++) {
          const now = performance.now();
          if (now >= hardStop || (now >= deadline && (job.kind === 'login' || k >= mine.length))) break;
          const started = now;
          try {
            if (job.kind === 'login') {
              const res = await client.request({ path: '/v1/login', method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody });
              const text = await res.body.text();
              sent++;
              if (res.statusCode === 200) ok++;
              else fail(`login answered ${res.statusCode}: ${text.slice(0, 200)}`);
            } else {
              const index = mine[k % mine.length]!;
              const id = hbProcessId(service, index);
              const seq = (seqs.get(index) ?? 0) + 1;
              seqs.set(index, seq);
              const key = keys.get(index) ?? keys.set(index, deriveKey(job.token!, id)).get(index)!;
              const body = JSON.stringify({ service, version: '1.0.0', process: id, seq, terminals: terminalsOf(index, seq) });
              const headers = { 'content-type': 'application/json', ...signRequest(key, id, 'POST', '/v1/heartbeat', body) };
              const res = await client.request({ path: '/v1/heartbeat', method: 'POST', headers, body });
              const text = await res.body.text();
              sent++;
              if (res.statusCode === 204) {
                ok++;
                lastSeq[index] = seq;
              } else fail(`heartbeat answered ${res.statusCode}: ${text.slice(0, 200)}`);
            }
          } catch (error) {
            sent++;
            fail(`request failed: ${(error as Error).message}`);
            if (failed > 1000) break;
          }
          latencies.push(performance.now() - started);
        }
      } finally {
        await client.close();
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { sent, ok, failed, firstFailure, seconds: (performance.now() - t0) / 1000, latencies: percentiles(latencies), lastSeq, cpuS: (cpu.user + cpu.system) / 1e6 };
}

// Run as a child process: job on stdin, result on stdout.
if (process.argv[1]?.endsWith('load.ts')) {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const next = async () => ((await lines.next()).value as string | undefined) ?? '';
  const job = JSON.parse(await next()) as LoadJob;
  process.stdout.write('ready\n');
  await next();
  const out = await run(job);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.stdin.destroy();
}
