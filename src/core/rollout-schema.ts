import { z } from 'zod';
import { RECENT_VERDICTS } from './rollout-step.js';
import { isValidVersion } from './version.js';

/**
 * A progressive rollout as the policy holds it, per service (DESIGN.md,
 * "Progressive rollouts"): the plan, where it stands, the newest verdicts
 * with their figures, and who started it. Committed with every move the
 * plan makes, so a new leader carries on from here and `rollout status`
 * reads it without asking a router. Optional: older policies stay valid.
 */

export const ROLLOUT_STATES = ['progressing', 'paused', 'aborted', 'completed'] as const;

const version = z.string().refine(isValidVersion, { message: 'expected a semver version like 1.4.2' });
const isoTime = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 time like 2026-11-25T10:00:00.000Z' });
const count = z.number().int().min(0);
const figure = z.number().min(0).nullable();
const text = (max: number) => z.string().max(max);

/** Who started a change: a CI system's run where there is one, else the user and host (protocol/events.ts reads it from the environment). */
export const changedBySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ci'), system: text(64), actor: text(128).nullable(), run: text(128).nullable(), repository: text(256).nullable(), url: text(1024).nullable() }),
  z.object({ kind: z.literal('user'), user: text(128).nullable(), host: text(255).nullable() }),
]);
export type ChangedBy = z.output<typeof changedBySchema>;

export const verdictRecordSchema = z.object({
  at: isoTime,
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  reason: text(2000),
  requests: figure,
  errors: figure,
  p99Ms: figure,
  restarts: figure,
  checks: z.array(z.object({ query: text(2000), max: z.number(), value: z.number().nullable() })).max(32).optional(),
});

export const rolloutSchema = z
  .object({
    /** Unique per rollout: a move names the rollout it was planned for, and a new rollout of the same version is another one. */
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected an id of letters, digits, ".", "_", "-"'),
    version,
    /** The target when it started. */
    from: version.nullable(),
    steps: z.array(z.object({ canary: z.number().gt(0).max(100), pauseMs: count })).min(1).max(100),
    /** Index of the current step (0-based). */
    step: count,
    /** When the current step began (or the rollout resumed): its pause counts from here. */
    stepSince: isoTime,
    state: z.enum(ROLLOUT_STATES),
    /** Raised by every commit of the rollout: a move is committed only on the head it was planned from. */
    seq: count,
    fails: count,
    inconclusives: count,
    recent: z.array(verdictRecordSchema).max(RECENT_VERDICTS),
    /** Why it paused, aborted or completed; null while it progresses. */
    reason: text(4000).nullable(),
    startedAt: isoTime,
    by: changedBySchema.nullable(),
  })
  .superRefine((r, ctx) => {
    if (r.step >= r.steps.length) ctx.addIssue({ code: 'custom', path: ['step'], message: `expected a step below ${r.steps.length}, the number of steps` });
    r.steps.forEach((s, i) => {
      if (i > 0 && s.canary <= r.steps[i - 1]!.canary) ctx.addIssue({ code: 'custom', path: ['steps', i, 'canary'], message: 'expected a canary weight above the step before' });
    });
  });

export type Rollout = z.output<typeof rolloutSchema>;
export type RolloutVerdictRecord = z.output<typeof verdictRecordSchema>;

/** A rollout the plan still moves, or a person may still steer. */
export function isLive(rollout: Rollout | undefined): rollout is Rollout & { state: 'progressing' | 'paused' } {
  return rollout !== undefined && (rollout.state === 'progressing' || rollout.state === 'paused');
}

/** What is left of the current step's pause at `nowMs` (0 once it is over); null unless the rollout progresses. */
export function pauseLeftMs(rollout: Rollout, nowMs: number): number | null {
  if (rollout.state !== 'progressing') return null;
  return Math.max(0, rollout.steps[rollout.step]!.pauseMs - (nowMs - Date.parse(rollout.stepSince)));
}
