import { isSwitchyardError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import type { CommitOptions, Store, UpdateOptions } from './store.js';

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Store.update for any backend: read, apply `fn`, compare-and-set; on a
 * conflict read again and re-apply, so `fn` may run more than once and
 * should only compute the next policy from the one it is given.
 */
export async function retryUpdate(store: Pick<Store, 'read' | 'write'>, fn: (current: Policy) => Policy | Promise<Policy>, opts: UpdateOptions = {}): Promise<Policy> {
  const retries = opts.retries ?? 5;
  const commit: CommitOptions = opts.fence === undefined ? {} : { fence: opts.fence };
  for (let attempt = 0; ; attempt += 1) {
    const current = await store.read();
    // A copy, so an fn that mutates its argument cannot corrupt a retry.
    const next = await fn(structuredClone(current));
    try {
      return await store.write(next, current.generation, commit);
    } catch (err) {
      if (!isSwitchyardError(err) || err.code !== 'policy_conflict' || attempt >= retries) throw err;
      opts.onRetry?.(err, attempt + 1);
      // Full jitter, growing to at most 50 ms, so colliding writers spread out.
      await sleep(Math.random() * Math.min(50, 5 * 2 ** attempt));
    }
  }
}
