import { conflictError, isSwitchyardError } from '../../src/core/errors.js';
import type { ReconcileInput } from '../../src/core/plan-reconcile.js';
import type { Policy } from '../../src/core/policy-schema.js';
import type { CommitResult } from '../../src/ops/commit.js';
import type { OpsDeps } from '../../src/ops/deps.js';
import type { PruneRequest, PruneResult } from '../../src/ops/prune.js';

// This module is imported by vi.mock factories of src/core/names.js and src/core/plan-reconcile.js:
// it must not import those modules itself (a factory waiting on its own module never resolves).

/** Named like a process switchyard starts: `<service>@<version>#<index>…`. */
const PROCESS_NAME = /^[^@#]+@[^#]+#\d{1,9}(?:\.[a-z0-9]{1,32})?$/;

/** The key the loop's snapshot keeps a claim's or a drain's watch under (core/plan-reconcile.ts seenKey). */
function seenKey(p: { id: string; state: string; since?: string | undefined; owner?: { id: string; until?: string | undefined } | undefined }): string {
  return p.state === 'draining' ? `drain ${p.id} ${p.since ?? ''}` : `claim ${p.id} ${p.owner?.id ?? ''} ${p.owner?.until ?? ''}`;
}

/**
 * Bugs this project fixed, put back into the shipped code on demand, so
 * the model test can show it catches each (model-plants.test.ts). Every
 * plant is the old behaviour, written out again here; the shipped modules
 * are wrapped by vi.mock and call these only while a plant is on.
 */
export const plants = new Set<'F1' | 'F2' | 'F3' | 'F4' | 'F5' | 'F6' | 'F7' | 'R1' | 'R2'>();

/** F1, part one: a commit whose reply was lost is taken for a failure (no reading of the head to settle it). */
export async function commitWithoutSettling(deps: Pick<OpsDeps, 'store' | 'lease'>, fn: (head: Policy) => Policy): Promise<CommitResult> {
  for (let attempt = 0; ; attempt += 1) {
    const head = await deps.store.read();
    const next = fn(head);
    if (next === head) return { policy: head, wrote: false };
    const fence = deps.lease?.fence();
    try {
      return { policy: await deps.store.write(next, head.generation, fence === undefined ? undefined : { fence }), wrote: true };
    } catch (error) {
      if (!isSwitchyardError(error) || error.code !== 'policy_conflict' || attempt >= 8) throw error;
    }
  }
}

/** F3: the old prune: the head read first, PM2 listed second, one look, each orphan deleted at once. */
export async function oldPrune(deps: OpsDeps, req: PruneRequest): Promise<PruneResult> {
  const head = await deps.store.read();
  const named = new Set(Object.values(head.services).flatMap((s) => s.processes.map((p) => p.id)));
  const fleet = await deps.fleets.require('local');
  const orphans = (await fleet.list()).map((p) => p.id).filter((id) => PROCESS_NAME.test(id) && !named.has(id));
  const deleted: string[] = [];
  if (req.remove) {
    for (const id of orphans) {
      await fleet.remove(id);
      deleted.push(id);
    }
  }
  return { orphans: orphans.map((id) => ({ host: 'local', id, lost: false })), deleted, kept: [], regression: undefined, acknowledged: undefined };
}

/**
 * F4: claims and deadlines judged by comparing another machine's times
 * with this one's wall clock, and an expired `until` winning over a live
 * owner: what the loop's snapshot gives the planner is replaced by that.
 */
export function wallClockJudgement(input: ReconcileInput): ReconcileInput {
  const seen = new Map<string, number>();
  for (const svc of Object.values(input.policy.services)) {
    for (const p of svc.processes) {
      const since = p.since === undefined ? input.nowMs : Date.parse(p.since);
      seen.set(seenKey(p), input.nowMs - since);
    }
  }
  const owners = new Map([...input.owners].map(([id, alive]) => [id, alive === true ? undefined : alive]));
  return { ...input, seen, owners };
}

/** A conflict, as the shipped code throws it: used to keep planted paths honest about refusals. */
export const conflict = () => conflictError('policy_conflict', 'planted');

/** F7: the planner knows nothing of terminals on a process the policy is done with (failed, retired): it deletes it under them. */
export function withoutFactsOfFinished(input: ReconcileInput): ReconcileInput {
  const finished = new Set(Object.values(input.policy.services).flatMap((svc) => svc.processes).filter((p) => p.state === 'failed' || p.state === 'retired').map((p) => p.id));
  return { ...input, facts: new Map([...input.facts].filter(([id]) => !finished.has(id))) };
}
