import { randomBytes } from 'node:crypto';
import { failedError, isSwitchyardError } from '../core/errors.js';
import type { Change, Policy } from '../core/policy-schema.js';
import type { OpsDeps } from './deps.js';

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** How long a commit whose reply was lost is worked on before it is called unknown. */
const SETTLE_MS = 10_000;

export interface CommitResult {
  /** The head after the call: the revision written, or the head that made the change unnecessary. */
  policy: Policy;
  wrote: boolean;
}

export interface CommitOptions {
  /** Conflicts re-read and retried (default 8); 0 makes a concurrent change a conflict (exit 4). */
  retries?: number;
  /** Why, when the change overrides the rules (`--force --reason`). */
  reason?: string;
  forced?: boolean;
}

/**
 * A write the store refused for certain (a conflict, a fenced lease, an
 * invalid policy, no policy): it did not land and never will. Anything else
 * (a timeout, a reset connection, EIO after the link) may have landed.
 */
function refusedForCertain(error: unknown): boolean {
  return isSwitchyardError(error) && (error.kind === 'conflict' || error.kind === 'usage' || error.code === 'revision_taken');
}

function isConflict(error: unknown): boolean {
  return isSwitchyardError(error) && error.code === 'policy_conflict';
}

/**
 * The executor's commit: read the head, apply the pure `fn`, and write by
 * compare-and-set (fenced under a lease), stamped with a change record
 * whose id is this commit's own. `fn` returns its input to say "nothing to
 * do". A conflict re-reads and re-applies (a decision that no longer holds
 * is dropped there, never forced).
 *
 * A write whose outcome is unknown may have landed, or may still land (a
 * Redis paused for writes runs it later). It is never taken for failed:
 * the head is read, and revision g+1 tells, by its change id, whether it is
 * ours. While the head still says g, the same write is sent again at the
 * same generation: whichever copy lands, it is ours, and the other is
 * refused. If that cannot be settled in time, `commit_unknown` is thrown,
 * and callers do nothing destructive on it: the reconcile loop converges
 * from whatever the store ends up holding.
 */
export async function commitChange(deps: Pick<OpsDeps, 'store' | 'lease' | 'by' | 'clock'>, op: string, fn: (head: Policy) => Policy, opts: CommitOptions = {}): Promise<CommitResult> {
  const retries = opts.retries ?? 8;
  for (let attempt = 0; ; attempt += 1) {
    const head = await deps.store.read();
    const changed = fn(head);
    if (changed === head) return { policy: head, wrote: false };
    const change: Change = {
      id: `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`,
      op,
      ...(deps.by === undefined ? {} : { by: deps.by }),
      ...(opts.reason === undefined ? {} : { reason: opts.reason }),
      ...(opts.forced === true ? { forced: true } : {}),
    };
    const next: Policy = { ...changed, change };
    const fence = deps.lease?.fence();
    const write = () => deps.store.write(next, head.generation, fence === undefined ? undefined : { fence });
    try {
      return { policy: await write(), wrote: true };
    } catch (error) {
      if (!refusedForCertain(error)) {
        const settled = await settle(deps, head.generation, change.id, write, error as Error);
        if (settled !== undefined) return { policy: settled, wrote: true };
        // Not ours at g+1: another writer won that generation; go round as after a conflict.
      } else if (!isConflict(error) || attempt >= retries) {
        throw error;
      }
      if (attempt >= retries) throw error;
      await sleep(Math.random() * Math.min(50, 5 * 2 ** attempt));
    }
  }
}

/**
 * After a write of generation `expected + 1` ended with an unknown outcome:
 * our revision if it landed, undefined if another writer's landed there
 * instead, or `commit_unknown` when neither can be told in time.
 */
async function settle(deps: Pick<OpsDeps, 'store' | 'clock'>, expected: number, changeId: string, write: () => Promise<Policy>, first: Error): Promise<Policy | undefined> {
  const deadline = deps.clock.mono() + SETTLE_MS;
  let last = first;
  for (let round = 0; deps.clock.mono() < deadline; round += 1) {
    try {
      const head = await deps.store.read();
      if (head.generation > expected) {
        const landed = head.generation === expected + 1 ? head : await deps.store.revision(expected + 1);
        return landed.change?.id === changeId ? landed : undefined;
      }
      // Not there yet (or never sent): send the very same revision again.
      return await write();
    } catch (error) {
      if (!refusedForCertain(error)) last = error as Error;
      // A conflict here means a revision g+1 exists now: the next read says whose.
    }
    await sleep(Math.min(1000, 50 * 2 ** round));
  }
  throw failedError('commit_unknown', `A policy write may or may not have landed (${last.message}), and the store could not say which within ${SETTLE_MS / 1000}s: nothing was stopped or deleted because of it. Run \`switchyard status\` once the store answers; the router's reconcile loop settles what the store holds.`, { generation: expected + 1 });
}
