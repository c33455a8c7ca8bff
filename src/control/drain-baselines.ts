import type { Policy } from '../core/policy-schema.js';

/**
 * Zero-terminal intervals counted only since the loop first saw a process
 * draining. The tally's streak also counts the zeros a process reported
 * while it was still active (an idle old target has a long one), which
 * would stop it at the first pass after the promote, before the heartbeat
 * that reports a terminal sent to it just before the promote arrives: that
 * terminal would be cut off. An undetected reset only makes the count
 * smaller, so the error is always on the side of waiting longer.
 */
export class DrainBaselines {
  /** Per draining process: its drain start (`since`) and the tally's zero streak when first seen draining. */
  private readonly seen = new Map<string, { since: string; streak: number }>();

  /** The `since` of every draining process; forgets the baselines of processes no longer draining. */
  track(policy: Policy): Map<string, string> {
    const draining = new Map<string, string>();
    for (const svc of Object.values(policy.services)) {
      for (const p of svc.processes) if (p.state === 'draining') draining.set(p.id, p.since ?? '');
    }
    for (const id of this.seen.keys()) if (!draining.has(id)) this.seen.delete(id);
    return draining;
  }

  /** The streak counted from the first pass that saw the process draining since `since`. */
  since(id: string, since: string | undefined, streak: number): number {
    if (since === undefined) return streak;
    const seen = this.seen.get(id);
    if (seen === undefined || seen.since !== since) {
      this.seen.set(id, { since, streak });
      return 0;
    }
    // The streak started over (terminals came back, or a stale gap) after the drain began.
    if (streak < seen.streak) seen.streak = 0;
    return streak - seen.streak;
  }
}
