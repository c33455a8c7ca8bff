import { isSwitchyardError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import type { CommitOptions, Store } from './store.js';

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Read the head, apply `fn`, and commit with compare-and-set only when `fn`
 * changed something (it returns its input to say "nothing to do"). A
 * conflict means "re-read and recompute": `fn` runs again on the new head,
 * so a decision that no longer holds is dropped there, never forced.
 * Returns the head after the call and whether this call wrote it.
 */
export async function commitIfChanged(store: Store, fn: (head: Policy) => Policy, opts: CommitOptions & { retries?: number } = {}): Promise<{ policy: Policy; wrote: boolean }> {
  const retries = opts.retries ?? 8;
  for (let attempt = 0; ; attempt += 1) {
    const head = await store.read();
    const next = fn(head);
    if (next === head) return { policy: head, wrote: false };
    try {
      return { policy: await store.write(next, head.generation, opts.fence === undefined ? undefined : { fence: opts.fence }), wrote: true };
    } catch (error) {
      if (!isSwitchyardError(error) || error.kind !== 'conflict' || error.code !== 'policy_conflict' || attempt >= retries) throw error;
      await sleep(Math.random() * Math.min(50, 5 * 2 ** attempt));
    }
  }
}
