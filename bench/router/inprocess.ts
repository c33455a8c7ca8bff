import { performance } from 'node:perf_hooks';
import { parseHeartbeat, type Heartbeat } from '../../dist/core/heartbeat.js';
import { indexPolicy } from '../../dist/core/policy-index.js';
import { resolveLogin, resolveRequest, type Loads, type RoundRobin } from '../../dist/core/resolve.js';
import { TallyBook, type TallyEntry } from '../../dist/core/tally.js';
import { sizedPolicy, type SizedPolicy } from './policies.js';
import { median } from '../util.js';

/**
 * In-process figures, on this one thread: resolve cost against policy size,
 * and heartbeat parsing + ingestion with the tallies checked exactly.
 */

/** A small seeded PRNG (mulberry32), so every run draws the same inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ResolveSizeResult {
  processes: number;
  services: number;
  versions: number;
  /** Median nanoseconds per call over the rounds, with the router's Loads (TallyBook.terminals). */
  requestNs: number;
  /** Same, but every lookup is for one of 5 (service, version) pairs: cache-warm, isolates the algorithm. */
  requestHotNs: number;
  /** resolveRequest with no Loads at all: the core's own cost. */
  requestBareNs: number;
  loginNs: number;
  /** Building the lookup index once per policy generation, milliseconds (median). */
  indexMs: number;
  othersShare?: number;
}

interface Prepared {
  sp: SizedPolicy;
  loads: Loads;
  cursor: RoundRobin;
  requests: Array<{ service: string; version: string }>;
  hot: Array<{ service: string; version: string }>;
  logins: Array<{ service: string; version: string; terminal: string }>;
}

const INPUTS = 4096;

function prepare(processes: number): Prepared {
  const sp = sizedPolicy(processes);
  const rand = prng(processes);
  // Loads exactly as the router gives them: the last heartbeat of each process, through the TallyBook.
  const tallies = new TallyBook({ intervalMs: 5_000, staleAfter: 3 });
  const now = Date.now();
  tallies.setKnown(Object.values(sp.policy.services).flatMap((s) => s.processes.map((p) => p.id)), now);
  for (const service of Object.values(sp.policy.services)) {
    for (const p of service.processes) {
      tallies.ingest({ service: p.id.slice(0, p.id.indexOf('@')), version: p.version, process: p.id, seq: 1, terminals: { [p.version]: Math.floor(rand() * 50) } }, now);
    }
  }
  const loads: Loads = { terminals: (id) => tallies.terminals(id) };
  const requests: Prepared['requests'] = [];
  const logins: Prepared['logins'] = [];
  for (let i = 0; i < INPUTS; i++) {
    const s = sp.served[Math.floor(rand() * sp.served.length)]!;
    requests.push({ service: s.service, version: s.version });
    // Half the logins run the target (connect), half an older version (upgrade).
    logins.push({ service: s.service, version: rand() < 0.5 ? s.target : s.version, terminal: `terminal-${i}` });
  }
  const hotPairs = requests.slice(0, 5);
  const hot = requests.map((_, i) => hotPairs[i % hotPairs.length]!);
  indexPolicy(sp.policy);
  return { sp, loads, cursor: { next: 0 }, requests, hot, logins };
}

function timeRequests(p: Prepared, calls: number, which: 'spread' | 'hot' | 'bare' = 'spread'): number {
  const { policy } = p.sp;
  const inputs = which === 'hot' ? p.hot : p.requests;
  const loads = which === 'bare' ? undefined : p.loads;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const input = inputs[i & (INPUTS - 1)]!;
    const r = resolveRequest(policy, input.service, input.version, loads, p.cursor);
    if (r.ok) sink += r.port;
  }
  const ns = ((performance.now() - t0) * 1e6) / calls;
  if (sink === 0) throw new Error('resolveRequest never routed: the benchmark policy is wrong');
  return ns;
}

function timeLogins(p: Prepared, calls: number): number {
  const { policy } = p.sp;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const input = p.logins[i & (INPUTS - 1)]!;
    const r = resolveLogin(policy, input.service, input.version, input.terminal, p.loads, p.cursor);
    if (r.ok) sink += r.action === 'connect' ? r.port : 1;
  }
  const ns = ((performance.now() - t0) * 1e6) / calls;
  if (sink === 0) throw new Error('resolveLogin never answered: the benchmark policy is wrong');
  return ns;
}

function timeIndex(p: Prepared, times: number): number {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    // A fresh object each time: the index is cached per policy object.
    const copy = structuredClone(p.sp.policy);
    const t0 = performance.now();
    indexPolicy(copy);
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

export function benchResolveSizes(sizes: number[], calls: number, rounds: number): ResolveSizeResult[] {
  const prepared = sizes.map(prepare);
  // Warm every size first, so no size is timed with code the JIT tuned for another.
  for (const p of prepared) {
    for (const which of ['spread', 'hot', 'bare'] as const) timeRequests(p, Math.min(calls, 50_000), which);
    timeLogins(p, Math.min(calls, 50_000));
  }
  const req = prepared.map(() => [] as number[]);
  const hot = prepared.map(() => [] as number[]);
  const bare = prepared.map(() => [] as number[]);
  const login = prepared.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    prepared.forEach((p, i) => {
      req[i]!.push(timeRequests(p, calls, 'spread'));
      hot[i]!.push(timeRequests(p, calls, 'hot'));
      bare[i]!.push(timeRequests(p, calls, 'bare'));
      login[i]!.push(timeLogins(p, calls));
    });
  }
  return prepared.map((p, i) => ({
    processes: p.sp.processes,
    services: Object.keys(p.sp.policy.services).length,
    versions: p.sp.served.length,
    requestNs: median(req[i]!),
    requestHotNs: median(hot[i]!),
    requestBareNs: median(bare[i]!),
    loginNs: median(login[i]!),
    indexMs: timeIndex(p, 5),
  }));
}

export interface HeartbeatIngestResult {
  heartbeats: number;
  processes: number;
  seconds: number;
  /** JSON.parse + parseHeartbeat + TallyBook.ingest, per second. */
  rate: number;
  /** The two halves, measured apart. */
  parseRate: number;
  ingestRate: number;
  tallyExact: boolean;
  tallyProblem: string | null;
  othersShare?: number;
}

const HB_SERVICE = 'lobby';

/** A book that counts every process the heartbeat texts name, as the router's does once the policy names them. */
function namedBook(processes: number): TallyBook {
  const book = new TallyBook({ intervalMs: 5_000, staleAfter: 3 });
  book.setKnown(Array.from({ length: processes }, (_, index) => `${HB_SERVICE}@2.${index % 10}.0#${index}`), Date.now());
  return book;
}

function heartbeatTexts(count: number, processes: number, seed: number): string[] {
  const rand = prng(seed);
  const terminalVersions = Array.from({ length: 20 }, (_, i) => `${1 + (i % 2)}.${Math.floor(i / 2)}.0`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const index = i % processes;
    const version = `2.${index % 10}.0`;
    const terminals: Record<string, number> = {};
    for (let k = 0; k < 4; k++) terminals[terminalVersions[Math.floor(rand() * terminalVersions.length)]!] = Math.floor(rand() * 1000);
    const hb = { service: HB_SERVICE, version, process: `${HB_SERVICE}@${version}#${index}`, seq: Math.floor(i / processes) + 1, terminals };
    out.push(JSON.stringify(hb));
  }
  return out;
}

/** The tally that the last heartbeat of every process adds up to. */
export function expectedTally(lastByProcess: Map<string, Record<string, number>>): Map<string, number> {
  const sums = new Map<string, number>();
  for (const terminals of lastByProcess.values()) {
    for (const [version, n] of Object.entries(terminals)) if (n > 0) sums.set(version, (sums.get(version) ?? 0) + n);
  }
  return sums;
}

/** null when `tally` holds exactly `expected`, largest first; otherwise what is wrong. */
export function compareTally(tally: TallyEntry[], expected: Map<string, number>): string | null {
  if (tally.length !== expected.size) return `tally has ${tally.length} versions, expected ${expected.size}`;
  for (let i = 0; i < tally.length; i++) {
    const e = tally[i]!;
    if (expected.get(e.version) !== e.terminals) return `version ${e.version}: tally ${e.terminals}, expected ${expected.get(e.version) ?? 0}`;
    if (i > 0 && tally[i - 1]!.terminals < e.terminals) return `tally not ordered largest first at ${e.version}`;
  }
  return null;
}

export function benchHeartbeatIngest(count: number, processes: number): HeartbeatIngestResult {
  const texts = heartbeatTexts(count, processes, 42);
  const warm = heartbeatTexts(20_000, processes, 7);
  const warmBook = namedBook(processes);
  for (const t of warm) {
    const r = parseHeartbeat(JSON.parse(t));
    if (r.ok) warmBook.ingest(r.heartbeat, Date.now());
  }

  // The whole path, as the router runs it per POST (less HTTP).
  const book = namedBook(processes);
  let accepted = 0;
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i++) {
    const r = parseHeartbeat(JSON.parse(texts[i]!));
    if (!r.ok) throw new Error(`bench heartbeat refused: ${r.message}`);
    if (book.ingest(r.heartbeat, Date.now()) === 'accepted') accepted++;
  }
  const seconds = (performance.now() - t0) / 1000;

  // Exact check: every heartbeat accepted, and the tally is the sum of each process's last one.
  const last = new Map<string, Record<string, number>>();
  for (const t of texts) {
    const hb = JSON.parse(t) as Heartbeat;
    last.set(hb.process, hb.terminals);
  }
  let problem = accepted === texts.length ? null : `${texts.length - accepted} heartbeats not accepted`;
  problem ??= compareTally(book.tally(HB_SERVICE, Date.now()), expectedTally(last));

  // The halves apart.
  const parsed: Heartbeat[] = [];
  const p0 = performance.now();
  for (const t of texts) {
    const r = parseHeartbeat(JSON.parse(t));
    if (r.ok) parsed.push(r.heartbeat);
  }
  const parseSeconds = (performance.now() - p0) / 1000;
  const book2 = namedBook(processes);
  const i0 = performance.now();
  for (const hb of parsed) book2.ingest(hb, Date.now());
  const ingestSeconds = (performance.now() - i0) / 1000;

  return {
    heartbeats: texts.length,
    processes,
    seconds,
    rate: texts.length / seconds,
    parseRate: texts.length / parseSeconds,
    ingestRate: parsed.length / ingestSeconds,
    tallyExact: problem === null,
    tallyProblem: problem,
  };
}
