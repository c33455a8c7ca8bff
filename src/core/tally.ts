import type { Heartbeat } from './heartbeat.js';
import { newRecord, recordBeat, seqRefusal, type ProcessRecord } from './tally-record.js';
import { sortTally, type TallyEntry } from './tally-vector.js';

export type { TallyEntry } from './tally-vector.js';

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
 * after a stale gap: silence is never counted as zero. A seq further ahead
 * of the last accepted one than the time since allows is refused
 * (`seq_jump`), never adopted: adopting it would lock the process's own
 * later heartbeats out as out of order.
 *
 * Known and pending: only processes the policy names (in a live state, see
 * `setKnown`) are counted. A heartbeat from any other id is held as pending,
 * never counted: it may be a process whose policy entry is not loaded yet,
 * and it counts from the moment the policy names it. Pending records are
 * bounded in number (oldest evicted) and age (dropped after the stale window).
 *
 * The zero streak counts heartbeat intervals with zero terminals, not
 * heartbeats: it grows at most once per 0.8 interval, so a process that beats
 * more often (an SDK's extra beat on stop) cannot reach a drain grace sooner.
 */

export interface TallyOptions {
  /** The heartbeat interval, in milliseconds. */
  intervalMs: number;
  /** Intervals without a heartbeat after which a process is stale. */
  staleAfter: number;
  /** Most records kept for ids the policy does not name; default 1000. */
  maxPending?: number;
}

export type IngestOutcome = 'accepted' | 'pending' | 'out_of_order' | 'seq_jump';

export interface ProcessView {
  /** Milliseconds since the last accepted heartbeat; null when never seen. */
  ageMs: number | null;
  stale: boolean;
  /** Terminals in the last accepted heartbeat (kept while stale, for status). */
  terminals: number;
  byVersion: Record<string, number>;
}

interface ServiceTotals {
  counts: Map<string, number>;
  processes: Set<string>;
  /** The sorted tally, kept until the totals change. */
  sorted: TallyEntry[] | null;
}

export class TallyBook {
  private readonly windowMs: number;
  private readonly intervalMs: number;
  private readonly maxPending: number;
  private readonly records = new Map<string, ProcessRecord>();
  private readonly services = new Map<string, ServiceTotals>();
  /** Pending ids, least recently heard from first. */
  private readonly pending = new Set<string>();
  private known = new Set<string>();

  constructor(options: TallyOptions) {
    this.windowMs = options.staleAfter * options.intervalMs;
    this.intervalMs = options.intervalMs;
    this.maxPending = options.maxPending ?? 1000;
  }

  /**
   * The ids the policy names in a live state; call on every policy load.
   * Records of ids no longer named stop counting; pending ones now named
   * start counting (while fresh).
   */
  setKnown(ids: Iterable<string>, nowMs: number): void {
    this.known = new Set(ids);
    for (const [id, rec] of this.records) {
      const known = this.known.has(id);
      if (known && rec.pending) {
        rec.pending = false;
        this.pending.delete(id);
        const totals = this.totalsOf(rec.service);
        totals.processes.add(id);
        if (!this.isStale(rec, nowMs)) this.count(rec, totals);
      } else if (!known && !rec.pending) {
        this.detach(id, rec);
        rec.pending = true;
        this.pending.add(id);
      }
    }
    this.prunePending(nowMs);
  }

  ingest(hb: Heartbeat, nowMs: number): IngestOutcome {
    this.prunePending(nowMs);
    let rec = this.records.get(hb.process);
    const wasStale = rec === undefined || this.isStale(rec, nowMs);
    if (rec !== undefined) {
      const refused = seqRefusal(rec, hb.seq, nowMs, wasStale, this.intervalMs);
      if (refused !== undefined) return refused;
    }

    if (rec === undefined) {
      rec = newRecord(hb.service, nowMs, !this.known.has(hb.process));
      this.records.set(hb.process, rec);
    } else if (!rec.pending && rec.service !== hb.service) {
      this.detach(hb.process, rec);
    } else {
      this.uncount(rec);
    }
    recordBeat(rec, hb, nowMs, wasStale, this.intervalMs);
    if (rec.pending) {
      // Re-inserted so the set stays ordered by last heard from.
      this.pending.delete(hb.process);
      this.pending.add(hb.process);
      if (this.pending.size > this.maxPending) this.drop(this.pending.values().next().value as string);
      return 'pending';
    }
    const totals = this.totalsOf(hb.service);
    totals.processes.add(hb.process);
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
   * Consecutive heartbeat intervals whose fresh heartbeats reported zero terminals. With `nowMs`,
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
    this.drop(processId);
  }

  /** The ids the policy names in a live state (the last `setKnown`). */
  knownIds(): ReadonlySet<string> {
    return this.known;
  }

  /** Records held for ids the policy does not name (bounded). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Process ids heard from for a service (fresh or stale), for status and clean-up. */
  processIds(service: string): string[] {
    return [...(this.services.get(service)?.processes ?? [])];
  }

  private drop(processId: string): void {
    const rec = this.records.get(processId);
    if (rec === undefined) return;
    this.records.delete(processId);
    this.pending.delete(processId);
    this.detach(processId, rec);
  }

  /** Takes a record out of its service's totals. */
  private detach(processId: string, rec: ProcessRecord): void {
    this.uncount(rec);
    const totals = this.services.get(rec.service);
    if (totals === undefined) return;
    totals.processes.delete(processId);
    if (totals.processes.size === 0) this.services.delete(rec.service);
  }

  private prunePending(nowMs: number): void {
    for (const id of this.pending) {
      const rec = this.records.get(id);
      if (rec !== undefined && !this.isStale(rec, nowMs)) break;
      this.drop(id);
    }
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
