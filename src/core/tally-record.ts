import type { Heartbeat } from './heartbeat.js';

/**
 * One process's record in the tally book, and the rules for a heartbeat
 * landing on it: which seqs are refused (see tally.ts for why), and how the
 * zero streak grows. No clock: times are passed in (monotonic ms).
 */

/** Seqs a process may skip beyond two per elapsed interval (failed posts, manual beats). */
const SEQ_SLACK = 64;
/** A zero interval is counted at most once per this share of the heartbeat interval. */
const ZERO_STEP = 0.8;

export interface ProcessRecord {
  service: string;
  lastSeq: number;
  lastSeenMs: number;
  counts: Map<string, number>;
  total: number;
  zeroStreak: number;
  /** When the zero streak last grew. */
  zeroStepMs: number;
  /** Whether `counts` are currently included in the service totals. */
  counted: boolean;
  /** Not named by the policy: held, never counted. */
  pending: boolean;
}

export function newRecord(service: string, nowMs: number, pending: boolean): ProcessRecord {
  return { service, lastSeq: 0, lastSeenMs: nowMs, counts: new Map(), total: 0, zeroStreak: 0, zeroStepMs: nowMs, counted: false, pending };
}

/**
 * Why a heartbeat with `seq` is refused on this record, or undefined when
 * it is taken. Seq 0 (a restart) is always taken; after a stale gap any seq is.
 */
export function seqRefusal(rec: ProcessRecord, seq: number, nowMs: number, wasStale: boolean, intervalMs: number): 'out_of_order' | 'seq_jump' | undefined {
  if (seq === 0) return undefined;
  if (seq <= rec.lastSeq && !wasStale) return 'out_of_order';
  const allowed = SEQ_SLACK + 2 * Math.ceil(Math.max(0, nowMs - rec.lastSeenMs) / intervalMs);
  return seq > rec.lastSeq + allowed ? 'seq_jump' : undefined;
}

/** Writes an accepted heartbeat into the record: its counts, seq, time, and the zero streak. */
export function recordBeat(rec: ProcessRecord, hb: Heartbeat, nowMs: number, wasStale: boolean, intervalMs: number): void {
  const counts = new Map<string, number>();
  let total = 0;
  for (const [version, n] of Object.entries(hb.terminals)) {
    if (n <= 0) continue;
    counts.set(version, n);
    total += n;
  }
  if (total > 0) rec.zeroStreak = 0;
  else if (wasStale || rec.zeroStreak === 0) {
    rec.zeroStreak = 1;
    rec.zeroStepMs = nowMs;
  } else if (nowMs - rec.zeroStepMs >= ZERO_STEP * intervalMs) {
    rec.zeroStreak += 1;
    rec.zeroStepMs = nowMs;
  }
  rec.service = hb.service;
  rec.lastSeq = hb.seq;
  rec.lastSeenMs = nowMs;
  rec.counts = counts;
  rec.total = total;
}
