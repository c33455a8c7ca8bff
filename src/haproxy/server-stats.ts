import type { Policy } from '../core/policy-schema.js';
import { emptyCounts, IntervalReader, type CountsSource, type TrafficSource, type VersionCounts } from '../core/request-window.js';
import type { Traffic, Unreachable } from '../core/rollout-verdict.js';
import { singleFlight } from '../core/single-flight.js';
import { serverName } from './desired.js';
import { parseSlotBackend } from './layout.js';

/**
 * Requests and errors per version with the HAProxy data plane, where the
 * router sees no traffic: HAProxy's per-server counters (`show stat`),
 * summed over the servers of a version. Servers are named by address and
 * port inside a service's slot backends (desired.ts), so the policy says
 * which version each one is.
 *
 * Per server, from counters HAProxy only ever raises:
 * - requests = stot − scur − wretr − wredis: streams finished, a retried
 *   attempt not counted twice;
 * - errors = requests − answers below 500 + srv_abrt: every finished
 *   request that did not get a good answer (a 5xx, a connect failure
 *   (econ), a bad or missing answer (eresp), or a connection the server
 *   closed before answering, which HAProxy 2.6 closes silently on the
 *   terminal and counts nowhere else), and good answers the server cut
 *   off mid-body (srv_abrt, which HAProxy also counts as answered).
 * An answer whose headers arrived but whose stream has not finished makes
 * errors dip by one until it finishes; each reading is held at least at
 * the one before, so the dip never counts. A new HAProxy worker (reload,
 * restart) counts from zero: its servers are new sources, taken whole.
 *
 * Each poll adds what every server's counters grew by to running totals
 * per version, so the totals only grow, across reloads too: take() reads
 * an interval of them (on the leader), and with several routers, each
 * with its own HAProxy, they are what a router shares through Redis
 * (coordination/shared-metrics.ts takes any CountsSource).
 */

export interface ServerStat {
  backend: string;
  server: string;
  stot: number;
  scur: number;
  wretr: number;
  wredis: number;
  /** Answers below 500 (1xx–4xx) and all answers, 5xx and others included. */
  good: number;
  answers: number;
  srvAbrt: number;
}

const NUMBERS = ['stot', 'scur', 'wretr', 'wredis', 'srv_abrt', 'hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'] as const;

/** Server lines of `show stat` CSV, by the column names of its header (their order changes between versions). */
export function parseServerStats(csv: string): ServerStat[] {
  const lines = csv.split('\n');
  const header = lines.find((l) => l.startsWith('# '));
  if (header === undefined) throw new Error(`HAProxy's "show stat" answer has no header line: ${csv.slice(0, 120)}`);
  const names = header.slice(2).split(',');
  const at = (name: string): number => names.indexOf(name);
  const missing = ['pxname', 'svname', ...NUMBERS].filter((n) => at(n) === -1);
  if (missing.length > 0) throw new Error(`HAProxy's "show stat" has no ${missing.join(', ')} column`);
  const stats: ServerStat[] = [];
  for (const line of lines) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.split(',');
    const server = f[at('svname')]!;
    if (server === 'FRONTEND' || server === 'BACKEND') continue;
    const n = Object.fromEntries(NUMBERS.map((name) => [name, Number(f[at(name)]) || 0])) as Record<(typeof NUMBERS)[number], number>;
    const good = n.hrsp_1xx + n.hrsp_2xx + n.hrsp_3xx + n.hrsp_4xx;
    stats.push({ backend: f[at('pxname')]!, server, stot: n.stot, scur: n.scur, wretr: n.wretr, wredis: n.wredis, good, answers: good + n.hrsp_5xx + n.hrsp_other, srvAbrt: n.srv_abrt });
  }
  return stats;
}

/** One server's finished requests and the errors among them (see the file's comment). */
export function serverFigures(s: ServerStat): { requests: number; errors: number } {
  const requests = Math.max(0, s.stot - s.scur - s.wretr - s.wredis);
  return { requests, errors: Math.min(requests, Math.max(0, requests - s.good + s.srvAbrt)) };
}

/** "<service>|<server name>" → version, for the processes the policy names (retired ones are gone from HAProxy). */
export function serverVersions(policy: Policy): Map<string, string> {
  const versions = new Map<string, string>();
  for (const [service, s] of Object.entries(policy.services)) {
    for (const p of s.processes) if (p.state !== 'retired' && p.state !== 'failed') versions.set(`${service}|${serverName(p.address, p.port)}`, p.version);
  }
  return versions;
}

export interface StatsApi {
  send(command: string): Promise<string>;
  workerPid(): Promise<number>;
}

export class HaproxyServerStats implements CountsSource, TrafficSource {
  /** service → version → running totals (bare counts). */
  private readonly totals = new Map<string, Map<string, VersionCounts>>();
  /** Each server's (held) figures at the last poll, by "<worker>/<backend>/<server>". */
  private servers = new Map<string, { requests: number; errors: number }>();
  private readonly reader = new IntervalReader(this);
  private timer: NodeJS.Timeout | undefined;
  /** Reads every server's counters into the totals; shared by overlapping calls; throws when HAProxy cannot be asked. */
  readonly poll = singleFlight(() => this.pollOnce());

  /** `policy`: the one HAProxy routes by (the data plane's applied policy). */
  constructor(private readonly api: StatsApi, private readonly policy: () => Policy | undefined) {}

  *all(): Iterable<{ service: string; version: string; counts: VersionCounts }> {
    for (const [service, versions] of this.totals) for (const [version, counts] of versions) yield { service, version, counts };
  }

  /** Polls every `everyMs` (when the totals are shared, so they stay fresh between takes). */
  start(everyMs: number): void {
    this.timer = setInterval(() => void this.poll().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async pollOnce(): Promise<void> {
    const policy = this.policy();
    if (policy === undefined) throw new Error('HAProxy has applied no policy yet, so its servers cannot be told apart by version');
    const [worker, stats] = await Promise.all([this.api.workerPid(), this.api.send('show stat -1 4 -1').then(parseServerStats)]);
    const versions = serverVersions(policy);
    const seen = new Map<string, { requests: number; errors: number }>();
    for (const s of stats) {
      const service = parseSlotBackend(s.backend)?.service;
      const version = service === undefined ? undefined : versions.get(`${service}|${s.server}`);
      if (service === undefined || version === undefined) continue;
      const key = `${worker}/${s.backend}/${s.server}`;
      const last = this.servers.get(key);
      const now = serverFigures(s);
      const held = { requests: Math.max(now.requests, last?.requests ?? 0), errors: Math.max(now.errors, last?.errors ?? 0) };
      seen.set(key, held);
      let byVersion = this.totals.get(service);
      if (byVersion === undefined) this.totals.set(service, (byVersion = new Map()));
      let total = byVersion.get(version);
      if (total === undefined) byVersion.set(version, (total = emptyCounts()));
      total.bareRequests += held.requests - (last?.requests ?? 0);
      total.bareErrors += held.errors - (last?.errors ?? 0);
    }
    // A server gone (or a worker replaced) adds nothing more; what it counted stays in the totals.
    this.servers = seen;
  }

  /** The figures since the last take() of this version, polled now (see TrafficSource). */
  async take(service: string, version: string): Promise<Traffic | Unreachable> {
    try {
      await this.poll();
    } catch (error) {
      return { unreachable: `HAProxy's server counters could not be read (${(error as Error).message})` };
    }
    return this.reader.take(service, version);
  }
}
