import type { Policy } from './policy-schema.js';

export interface HeartbeatFacts {
  /** Consecutive fresh heartbeats reporting zero terminals (0 when stale). */
  zeroStreak: number;
  stale: boolean;
  /** Terminals in the last heartbeat (kept while stale). */
  terminals: number;
}

export interface DrainDecision {
  id: string;
  service: string;
  version: string;
  host: string;
  /** drained: zero terminals for `grace` intervals; deadline: its drain deadline passed. */
  reason: 'drained' | 'deadline';
  /** Terminals it still held (cut off when stopped at the deadline). */
  terminals: number;
}

/**
 * Which draining processes to stop now. A process whose fresh heartbeats
 * reported zero terminals for `grace` consecutive intervals is drained. A
 * stale process (its heartbeats stopped) is never taken for empty: only its
 * deadline stops it. Pure: facts and time are passed in.
 */
export function planDrain(policy: Policy, facts: (processId: string) => HeartbeatFacts, graceFor: (service: string) => number, nowMs: number): DrainDecision[] {
  const decisions: DrainDecision[] = [];
  for (const [service, svc] of Object.entries(policy.services)) {
    const grace = graceFor(service);
    for (const p of svc.processes) {
      if (p.state !== 'draining') continue;
      const f = facts(p.id);
      const base = { id: p.id, service, version: p.version, host: p.host };
      if (!f.stale && f.zeroStreak >= grace) {
        decisions.push({ ...base, reason: 'drained', terminals: 0 });
        continue;
      }
      const deadline = p.drainDeadline === undefined ? Number.NaN : Date.parse(p.drainDeadline);
      if (Number.isFinite(deadline) && nowMs >= deadline) decisions.push({ ...base, reason: 'deadline', terminals: f.terminals });
    }
  }
  return decisions;
}
