import { createHash } from 'node:crypto';
import type { Policy } from '../core/policy-schema.js';
import { regressionOf, type Regression } from '../core/regression.js';

/** Generations whose content is remembered, to notice one rewritten under the same number. */
const REMEMBERED = 256;

/**
 * What a router remembers of the generations it has loaded, to notice a
 * store that went back (a Redis failover that lost commits, a restored
 * backup, a flushed store set up again) or a generation whose content
 * changed under the same number. Either is served (the store's head is the
 * truth), and raised as an alarm until the policy carries an
 * acknowledgement that covers it (`status --prune --yes`).
 */
export class GenerationWatch {
  private highest = -1;
  private readonly hashes = new Map<number, string>();
  private current: Regression | undefined;

  note(policy: Policy): void {
    const hash = createHash('sha256').update(JSON.stringify({ ...policy, updatedAt: undefined })).digest('hex');
    const known = this.hashes.get(policy.generation);
    const back = regressionOf(policy, [this.highest], []);
    if (back !== undefined) this.current = back;
    else if (known !== undefined && known !== hash) this.current = { head: policy.generation, highest: policy.generation, evidence: `generation ${policy.generation} now holds other content than when it was loaded before` };
    else if (this.current !== undefined && (policy.acknowledged?.through ?? -1) >= this.current.highest) this.current = undefined;
    this.hashes.set(policy.generation, hash);
    if (this.hashes.size > REMEMBERED) this.hashes.delete(Math.min(...this.hashes.keys()));
    this.highest = Math.max(this.highest, policy.generation);
  }

  regression(): Regression | undefined {
    return this.current;
  }
}
