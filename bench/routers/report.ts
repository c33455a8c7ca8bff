import type { IngestResult, Latency, LoginResult } from './measure.js';
import { fmt, fmtInt, mdTable, median, replaceDocsBlock, type SummaryRow } from '../util.js';

/** The Markdown of bench/routers.ts: summary rows (ratios against the same run), details, and its block in docs/performance.md. */

export const BEGIN = '<!-- bench:routers:begin (written by `npm run bench:routers -- --write-docs`; edit outside these markers) -->';
export const END = '<!-- bench:routers:end -->';
const TARGET_RATE = 100_000;
const TARGET_POLICY_P99_MS = 50;

export interface RoutersData {
  intervalMs: number;
  ingest: IngestResult[];
  login: LoginResult[];
  policy: Record<'1' | '3', Latency[]>;
  heartbeat: Record<'1' | '3', Latency[]>;
}

/** Runs during which other processes used more of the machine than this are left out of a median when an undisturbed run exists. */
export const DISTURBED_SHARE = 0.1;
export const disturbed = (r: { othersShare: number }): boolean => !(r.othersShare <= DISTURBED_SHARE);

/**
 * The median run among those of (routers, pinned, alone): its figures, with
 * `rate` the median rate. Only undisturbed runs count when there is one.
 */
function medianRun<T extends { routers: number; pinned: boolean; rate: number; othersShare: number; alone?: boolean }>(runs: T[], routers: number, pinned: boolean, alone = false): T | undefined {
  const all = runs.filter((r) => r.routers === routers && r.pinned === pinned && (r.alone ?? false) === alone);
  const calm = all.filter((r) => !disturbed(r));
  const mine = (calm.length > 0 ? calm : all).sort((a, b) => a.rate - b.rate);
  const middle = mine[(mine.length - 1) >> 1];
  return middle === undefined ? undefined : { ...middle, rate: median(mine.map((r) => r.rate)) };
}

/** Latencies of several rounds, pooled: the median of the rounds' p50 and the worst p99. */
function pooled(list: Latency[]): Latency {
  return {
    samples: list.reduce((n, l) => n + l.samples, 0),
    missed: list.reduce((n, l) => n + l.missed, 0),
    p50: median(list.map((l) => l.p50)),
    p99: Math.max(...list.map((l) => l.p99)),
    max: Math.max(...list.map((l) => l.max)),
  };
}

const share = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : 'n/a');
const place = (pinned: boolean) => (pinned ? 'pinned: servers CPU 0, load CPU 1' : 'unpinned: all on both cores');

export function summaryRows(d: RoutersData, placements: boolean[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const pinned of placements) {
    const one = medianRun(d.ingest, 1, pinned);
    const three = medianRun(d.ingest, 3, pinned);
    if (one === undefined || three === undefined) continue;
    rows.push({
      figure: `Heartbeat ingest, fleet-wide, 3 routers (${place(pinned)})`,
      measured: `${fmtInt(three.rate)}/s accepted (p99 ${fmt(three.p99ms)} ms; ${fmtInt(three.processes)} processes, ${three.connections} connections)`,
      comparison: `1 router: ${fmtInt(one.rate)}/s`,
      ratio: `${fmt(three.rate / one.rate)}× (3 / 1)`,
      target: pinned ? '—' : `≥ ${fmtInt(TARGET_RATE)}/s`,
      result: pinned ? 'info' : three.rate >= TARGET_RATE ? 'met' : 'missed',
    });
  }
  for (const pinned of placements) {
    const alone = medianRun(d.ingest, 1, pinned, true);
    const one = medianRun(d.ingest, 1, pinned);
    if (alone === undefined || one === undefined) continue;
    rows.push({
      figure: `Heartbeat ingest, 1 router on Redis against 1 router alone on files (${place(pinned)})`,
      measured: `${fmtInt(one.rate)}/s (router CPU ${fmt(one.routerCpuUs, 0)} µs a heartbeat)`,
      comparison: `alone: ${fmtInt(alone.rate)}/s (${fmt(alone.routerCpuUs, 0)} µs a heartbeat)`,
      ratio: `${fmt(one.rate / alone.rate)}× (on Redis / alone)`,
      target: '—',
      result: 'info',
    });
  }
  const exact = d.ingest.every((r) => r.tallyExact && r.counterExact && r.failed === 0);
  const worstSettle = Math.max(...d.ingest.map((r) => r.convergedMs));
  rows.push({
    figure: 'Tally exact after the load, on every router',
    measured: `${d.ingest.filter((r) => r.tallyExact && r.counterExact).length} of ${d.ingest.length} runs exact (every router's /v1/status tally = the sum the generator sent, accepted counters = 204s); exact at most ${fmtInt(worstSettle)} ms after the load stopped`,
    comparison: `heartbeat interval ${d.intervalMs} ms`,
    ratio: `${fmt(worstSettle / d.intervalMs)}× interval`,
    target: 'exact',
    result: exact ? 'met' : 'failed',
  });
  const three = medianRun(d.ingest, 3, false) ?? medianRun(d.ingest, 3, true);
  if (three !== undefined) {
    const perRedisCore = (three.redisSetsPerS + three.redisGetsPerS) / Math.max(three.redisCores, 1e-9);
    rows.push({
      figure: 'Redis side during the 3-router ingest',
      measured: `${fmtInt(three.redisSetsPerS)} records written/s, ${fmtInt(three.redisGetsPerS)} records read/s (${fmtInt(three.redisEvalsPerS)} read scripts/s); redis-server used ${fmt(three.redisCores)} core`,
      comparison: `heartbeats: ${fmtInt(three.rate)}/s`,
      ratio: `${fmt(three.redisSetsPerS / (three.accepted / three.seconds))} writes per heartbeat; ≈ ${fmtInt(perRedisCore)} record ops per Redis CPU-second`,
      target: '—',
      result: 'info',
    });
    rows.push({
      figure: 'CPU per heartbeat (3 routers)',
      measured: `routers ${fmt(three.routerCpuUs, 0)} µs, load generator ${fmt(three.loadCpuUs, 0)} µs, redis-server ${fmt(three.redisCpuUs, 0)} µs (cores busy: routers ${fmt(three.routerCores)}, load ${fmt(three.loadCores)}, redis ${fmt(three.redisCores)})`,
      comparison: `1 router: ${fmt(medianRun(d.ingest, 1, three.pinned)?.routerCpuUs ?? NaN, 0)} µs in the router`,
      ratio: `${fmt(three.routerCpuUs / (medianRun(d.ingest, 1, three.pinned)?.routerCpuUs ?? NaN))}× router CPU per heartbeat`,
      target: '—',
      result: 'info',
    });
  }
  const p1 = pooled(d.policy['1']);
  const p3 = pooled(d.policy['3']);
  rows.push({
    figure: 'Policy write → all 3 routers serve it',
    measured: `p99 ${fmt(p3.p99)} ms (p50 ${fmt(p3.p50)}, max ${fmt(p3.max)}; ${p3.samples} writes, ${p3.missed} missed)`,
    comparison: `1 router: p99 ${fmt(p1.p99)} ms (p50 ${fmt(p1.p50)})`,
    ratio: `${fmt(p3.p99 / p1.p99)}× (p99, 3 / 1)`,
    target: `≤ ${TARGET_POLICY_P99_MS} ms p99`,
    result: p3.p99 <= TARGET_POLICY_P99_MS && p3.missed === 0 ? 'met' : 'missed',
  });
  const h1 = pooled(d.heartbeat['1']);
  const h3 = pooled(d.heartbeat['3']);
  rows.push({
    figure: 'Heartbeat sent to one router → in every router\'s tally (3 routers)',
    measured: `p99 ${fmt(h3.p99)} ms (p50 ${fmt(h3.p50)}, max ${fmt(h3.max)}; ${h3.samples} heartbeats, ${h3.missed} missed)`,
    comparison: `heartbeat interval ${d.intervalMs} ms; 1 router: p99 ${fmt(h1.p99)} ms`,
    ratio: `${fmt(h3.p99 / d.intervalMs)}× interval (p99)`,
    target: '≤ 1 interval',
    result: h3.p99 <= d.intervalMs && h3.missed === 0 ? 'met' : 'missed',
  });
  for (const pinned of placements) {
    const one = medianRun(d.login, 1, pinned);
    const three3 = medianRun(d.login, 3, pinned);
    if (one === undefined || three3 === undefined) continue;
    rows.push({
      figure: `POST /v1/login, 3 routers (${place(pinned)})`,
      measured: `${fmtInt(three3.rate)}/s (p99 ${fmt(three3.p99ms)} ms, ${three3.connections} connections)`,
      comparison: `1 router: ${fmtInt(one.rate)}/s`,
      ratio: `${fmt(three3.rate / one.rate)}× (3 / 1)`,
      target: '—',
      result: 'info',
    });
  }
  return rows;
}

export function detailTables(d: RoutersData): string {
  const ingest = mdTable(
    ['routers', 'placement', 'accepted/s', 'sent', 'p50 / p99 ms', 'tally exact (settled after)', 'router CPU µs / hb', 'load CPU µs / hb', 'redis CPU µs / hb', 'cores: routers / load / redis', 'Redis SET/s', 'GET/s', 'others'],
    d.ingest.map((r) => [r.alone ? '1, alone on files' : String(r.routers), r.pinned ? 'pinned' : 'unpinned', fmtInt(r.rate), fmtInt(r.sent), `${fmt(r.p50ms)} / ${fmt(r.p99ms)}`, r.tallyExact && r.counterExact ? `yes (${fmtInt(r.convergedMs)} ms)` : `NO: ${r.tallyProblem ?? r.firstFailure}`, fmt(r.routerCpuUs, 1), fmt(r.loadCpuUs, 1), fmt(r.redisCpuUs, 1), `${fmt(r.routerCores)} / ${fmt(r.loadCores)} / ${fmt(r.redisCores)}`, fmtInt(r.redisSetsPerS), fmtInt(r.redisGetsPerS), share(r.othersShare)]),
  );
  const login = mdTable(
    ['routers', 'placement', 'logins/s', 'p50 / p99 ms', 'failed', 'others'],
    d.login.map((r) => [String(r.routers), r.pinned ? 'pinned' : 'unpinned', fmtInt(r.rate), `${fmt(r.p50ms)} / ${fmt(r.p99ms)}`, String(r.failed), share(r.othersShare)]),
  );
  const lat = (name: string, list: Record<'1' | '3', Latency[]>) =>
    (['1', '3'] as const).flatMap((k) => list[k].map((l, i) => [name, k, String(i + 1), String(l.samples), fmt(l.p50), fmt(l.p99), fmt(l.max), String(l.missed)]));
  const prop = mdTable(['propagation', 'routers', 'round', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'missed'], [...lat('policy write → all serve it', d.policy), ...lat('heartbeat → in all tallies', d.heartbeat)]);
  return ['**Heartbeat ingest runs**', '', ingest, '', '**Login runs**', '', login, '', '**Propagation, per round**', '', prop, ''].join('\n');
}

/** Replaces the routers' block of docs/performance.md (or appends it under its own heading). */
export async function writeDocsBlock(path: string, text: string): Promise<void> {
  await replaceDocsBlock(path, { begin: BEGIN, end: END, heading: 'Several routers on Redis: results' }, text);
}
