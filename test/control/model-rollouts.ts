import type { Policy } from '../../src/core/policy-schema.js';
import type { RolloutStep } from '../../src/core/rollout-plan.js';
import type { Rollout } from '../../src/core/rollout-schema.js';
import type { TrafficSource } from '../../src/core/request-window.js';
import type { Traffic, Unreachable } from '../../src/core/rollout-verdict.js';

/**
 * The progressive rollouts of the control plane's model: a double of the
 * traffic a canary gets (its health is an action: good, failing, silent,
 * or its counts unreadable), the plan every `deploySteps` runs, and the
 * properties checked on every revision the store holds:
 *
 * - no step twice: within one rollout each step is entered once, from the
 *   step before (a store that went back forgets what it lost, and the plan
 *   may then enter that step again: the first commit is gone);
 * - no promotion without a passing verdict: every advance and every
 *   completion the plan commits records a new verdict, and it passed;
 *   none of the plan's other moves touches the target;
 * - an abort leaves the target with a live process: the revision that
 *   aborts keeps the target it had, with an active process (the world
 *   checks after every step that one runs in PM2).
 */

export type Health = 'good' | 'failing' | 'silent' | 'unreadable';

export const MODEL_PLAN: RolloutStep[] = [{ canary: 20, pauseMs: 2000 }, { canary: 50, pauseMs: 1000 }, { canary: 100, pauseMs: 0 }];

/** Every version's traffic as its health says: what the router would count in an interval. */
export class ModelTraffic implements TrafficSource {
  readonly health = new Map<string, Health>();

  async take(_service: string, version: string): Promise<Traffic | Unreachable> {
    switch (this.health.get(version) ?? 'good') {
      case 'good': return { requests: 40, errors: 0, p99Ms: 12 };
      case 'failing': return { requests: 40, errors: 12, p99Ms: 30 };
      case 'silent': return { requests: 0, errors: 0 };
      case 'unreadable': return { unreachable: 'the counts could not be read (played)' };
    }
  }
}

export interface RolloutCounts {
  started: number;
  verdicts: number;
  advanced: number;
  completed: number;
  aborted: number;
  paused: number;
  settled: number;
  steered: number;
}

export function rolloutCounts(): RolloutCounts {
  return { started: 0, verdicts: 0, advanced: 0, completed: 0, aborted: 0, paused: 0, settled: 0, steered: 0 };
}

const rolloutOf = (p: Policy | undefined): Rollout | undefined => p?.services.lobby?.rollout;

/** Checks each revision once, against the one before; forgets what a store that went back lost. */
export class RolloutChecker {
  readonly counts = rolloutCounts();
  /** "<rollout id>:<step>" → the generation that entered it. */
  private readonly entered = new Map<string, number>();
  private checked = 0;

  forgetAbove(generation: number): void {
    for (const [key, g] of this.entered) if (g > generation) this.entered.delete(key);
    this.checked = Math.min(this.checked, generation);
  }

  async check(revision: (g: number) => Promise<Policy | undefined>, head: Policy, step: string, violations: string[]): Promise<void> {
    for (let g = this.checked + 1; g <= head.generation; g += 1) {
      const [before, after] = await Promise.all([revision(g - 1), revision(g)]);
      if (after === undefined) continue;
      this.one(before, after, g, `after ${step}: generation ${g} (${after.change?.op ?? '?'})`, violations);
    }
    this.checked = head.generation;
  }

  private one(before: Policy | undefined, after: Policy, g: number, where: string, violations: string[]): void {
    const a = rolloutOf(before);
    const b = rolloutOf(after);
    const op = after.change?.op ?? '';
    const targetBefore = before?.services.lobby?.target ?? null;
    const targetAfter = after.services.lobby?.target ?? null;
    if (op.startsWith('rollout ') && op !== 'rollout complete' && targetAfter !== targetBefore) {
      violations.push(`${where}: the target went from ${targetBefore} to ${targetAfter} in a move that is no promotion`);
    }
    if (b === undefined || (a?.id === b.id && a.seq === b.seq)) return;
    if (a?.id !== b.id) {
      this.counts.started += 1;
      this.enter(b.id, b.step, g, where, violations);
      return;
    }
    this.count(op);
    const newVerdict = b.recent.length > 0 && JSON.stringify(b.recent.at(-1)) !== JSON.stringify(a.recent.at(-1));
    const planned = op === 'rollout advance' || op === 'rollout complete';
    if (planned && !(newVerdict && b.recent.at(-1)!.verdict === 'pass')) {
      violations.push(`${where}: ${op} of ${b.version} without a new passing verdict (last: ${JSON.stringify(b.recent.at(-1) ?? null)})`);
    }
    if (b.step !== a.step) {
      if (b.step !== a.step + 1) violations.push(`${where}: the rollout of ${b.version} went from step ${a.step + 1} to step ${b.step + 1}`);
      this.enter(b.id, b.step, g, where, violations);
    }
    if (b.state === 'aborted' && a.state !== 'aborted') {
      const svc = after.services.lobby!;
      if (svc.target !== targetBefore) violations.push(`${where}: the abort of ${b.version} moved the target from ${targetBefore} to ${svc.target}`);
      if (svc.target !== null && !svc.processes.some((p) => p.version === svc.target && p.state === 'active')) violations.push(`${where}: the abort of ${b.version} left the target ${svc.target} with no active process`);
      if (svc.canary?.version === b.version && op !== 'rollout settle') violations.push(`${where}: the abort of ${b.version} left it the canary`);
    }
  }

  private enter(id: string, step: number, g: number, where: string, violations: string[]): void {
    const key = `${id}:${step}`;
    const earlier = this.entered.get(key);
    if (earlier !== undefined && earlier !== g) violations.push(`${where}: step ${step + 1} of rollout ${id} committed twice (first in generation ${earlier})`);
    this.entered.set(key, g);
  }

  private count(op: string): void {
    const c = this.counts;
    if (op === 'rollout verdict') c.verdicts += 1;
    else if (op === 'rollout advance') c.advanced += 1;
    else if (op === 'rollout complete') c.completed += 1;
    else if (op === 'rollout abort') c.aborted += 1;
    else if (op === 'rollout pause') c.paused += 1;
    else if (op === 'rollout settle') c.settled += 1;
    else c.steered += 1;
  }
}
