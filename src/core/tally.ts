import type { Heartbeat } from './heartbeat.js';
import { compareVersionsDesc } from './version.js';

/**
 * Terminal tallies from heartbeats (the patent's vector of counts per
 * terminal version). No clock: every call that depends on time takes `nowMs`,
 * which should come from a monotonic source.
 *
 * Hot-path shape: the router ingests a heartbeat per process per interval, so
 * ingest touches only that heartbeat's entries and the service's running
 * totals; a tally only walks the service's processes to retire stale ones
 * from the totals, and re-sorts only when something changed.
 *
 * Sequence numbers: a heartbeat whose seq is not above the last accepted one
 * is out of order and ignored, with two exceptions that both mean "the
 * process restarted": seq 0 is always accepted (a PM2 restart can come back
 * well inside the stale window, and waiting for the window would freeze its
 * counts), and any seq is accepted once the last heartbeat is older than the
 * stale window (an SDK that lost its first post, or one that does not start
 * at 0). The zero streak carries on across a quick restart but starts over
 * after a stale gap: silence is never counted as zero.
 */

export interface TallyOptions {
  /** The heartbeat interval, in milliseconds. */
  intervalMs: number;
  /** Intervals without a heartbeat after which a process is stale. */
  staleAfter: number;
}

export interface ProcessView {
  /** Milliseconds since the last accepted heartbeat; null when never seen. */
  ageMs: number | null;
  stale: boolean;
  /** Terminals in the last accepted heartbeat (kept while stale, for status). */
  terminals: number;
  byVersion: Record<string, number>;
}

export interface TallyEntry {
  version: string;
  terminals: number;
  share: number;
}

interface ProcessRecord {
  service: string;
  lastSeq: number;
  lastSeenMs: number;
  counts: Map<string, number>;
  total: number;
  zeroStreak: number;
  /** Whether `counts` are currently included in the service totals. */
  counted: boolean;
}

interface ServiceTotals {
  counts: Map<string, number>;
  processes: Set<string>;
  /** The sorted tally, kept until the totals change. */
  sorted: TallyEntry[] | null;
}

export class TallyBook {
  private readonly windowMs: number;
  private readonly records = new Map<string, ProcessRecord>();
  private readonly services = new Map<string, ServiceTotals>();

  constructor(options: TallyOptions) {
    this.windowMs = options.staleAfter * options.intervalMs;
  }

  ingest(hb: Heartbeat, nowMs: number): 'accepted' | 'out_of_order' {
    let rec = this.records.get(hb.process);
    const wasStale = rec === undefined || this.isStale(rec, nowMs);
    if (rec !== undefined && hb.seq <= rec.lastSeq && hb.seq !== 0 && !wasStale) return 'out_of_order';

    if (rec === undefined) {
      rec = { service: hb.service, lastSeq: 0, lastSeenMs: nowMs, counts: new Map(), total: 0, zeroStreak: 0, counted: false };
      this.records.set(hb.process, rec);
    } else {
      this.uncount(rec);
      if (rec.service !== hb.service) this.services.get(rec.service)?.processes.delete(hb.process);
    }
    const totals = this.totalsOf(hb.service);
    totals.processes.add(hb.process);

    const counts = new Map<string, number>();
    let total = 0;
    for (const [version, n] of Object.entries(hb.terminals)) {
      if (n <= 0) continue;
      counts.set(version, n);
      total += n;
    }
    rec.service = hb.service;
    rec.lastSeq = hb.seq;
    rec.lastSeenMs = nowMs;
    rec.counts = counts;
    rec.total = total;
    rec.zeroStreak = total === 0 ? (wasStale ? 1 : rec.zeroStreak + 1) : 0;
    this.count(rec, totals);
    return 'accepted';
  }

  processView(processId: string, nowMs: number): ProcessView {
    const rec = this.records.get(processId);
    if (rec === undefined) return { ageMs: null, stale: true, terminals: 0, byVersion: {} };
    return {
      ageMs: Math.max(0, nowMs - rec.lastSeenMs),
      stale: this.isStale(rec, nowMs),
      terminals: rec.total,
      byVersion: Object.fromEntries(rec.counts),
    };
  }

  /**
   * Terminals in a process's last heartbeat, or undefined when never heard
   * from. Allocation-free: routing asks this for every candidate process.
   */
  terminals(processId: string): number | undefined {
    return this.records.get(processId)?.total;
  }

  /** Terminals per terminal version over the service's fresh processes, largest first. */
  tally(service: string, nowMs: number): TallyEntry[] {
    const totals = this.services.get(service);
    if (totals === undefined) return [];
    for (const id of totals.processes) {
      const rec = this.records.get(id);
      if (rec !== undefined && rec.counted && this.isStale(rec, nowMs)) this.uncount(rec);
    }
    if (totals.sorted === null) totals.sorted = sortTally(totals.counts);
    return totals.sorted.map((e) => ({ ...e }));
  }

  /**
   * Consecutive fresh heartbeats that reported zero terminals. With `nowMs`,
   * a process that has gone stale reports 0: the drain controller must never
   * take silence for an empty process.
   */
  zeroStreak(processId: string, nowMs?: number): number {
    const rec = this.records.get(processId);
    if (rec === undefined) return 0;
    if (nowMs !== undefined && this.isStale(rec, nowMs)) return 0;
    return rec.zeroStreak;
  }

  forget(processId: string): void {
    const rec = this.records.get(processId);
    if (rec === undefined) return;
    this.uncount(rec);
    this.records.delete(processId);
    const totals = this.services.get(rec.service);
    if (totals === undefined) return;
    totals.processes.delete(processId);
    if (totals.processes.size === 0) this.services.delete(rec.service);
  }

  /** Process ids heard from for a service (fresh or stale), for status and clean-up. */
  processIds(service: string): string[] {
    return [...(this.services.get(service)?.processes ?? [])];
  }

  private isStale(rec: ProcessRecord, nowMs: number): boolean {
    return nowMs - rec.lastSeenMs > this.windowMs;
  }

  private totalsOf(service: string): ServiceTotals {
    let totals = this.services.get(service);
    if (totals === undefined) {
      totals = { counts: new Map(), processes: new Set(), sorted: null };
      this.services.set(service, totals);
    }
    return totals;
  }

  private count(rec: ProcessRecord, totals: ServiceTotals): void {
    for (const [version, n] of rec.counts) totals.counts.set(version, (totals.counts.get(version) ?? 0) + n);
    rec.counted = true;
    // Comparing old and new counts to keep the sorted tally would cost ingest more than a later re-sort costs a tally.
    totals.sorted = null;
  }

  private uncount(rec: ProcessRecord): void {
    if (!rec.counted) return;
    rec.counted = false;
    const totals = this.services.get(rec.service);
    if (totals === undefined) return;
    for (const [version, n] of rec.counts) {
      const left = (totals.counts.get(version) ?? 0) - n;
      // Dropping emptied versions keeps the tally free of zero rows and the map from growing.
      if (left > 0) totals.counts.set(version, left);
      else totals.counts.delete(version);
    }
    totals.sorted = null;
  }
}

function sortTally(counts: ReadonlyMap<string, number>): TallyEntry[] {
  let total = 0;
  for (const n of counts.values()) total += n;
  const entries = [...counts].map(([version, terminals]) => ({
    version,
    terminals,
    share: total === 0 ? 0 : Math.round((terminals / total) * 10_000) / 10_000,
  }));
  return entries.sort((a, b) => b.terminals - a.terminals || compareVersionsDesc(a.version, b.version) || (a.version < b.version ? -1 : 1));
}
