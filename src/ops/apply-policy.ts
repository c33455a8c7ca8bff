import { applyRefusals, type ApplyRefusal } from '../core/apply-rules.js';
import { conflictError, usageError } from '../core/errors.js';
import { diffPolicies, type PolicyChange } from '../core/policy-diff.js';
import type { Policy } from '../core/policy-schema.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';

export interface ApplyRequest {
  policy: Policy;
  /** Where it came from, for messages. */
  source: string;
  /** Write it even though the rules refuse it; needs a reason, which goes into the history. */
  force?: boolean;
  reason?: string;
}

export interface ApplyResult {
  changed: boolean;
  generation: number;
  previousGeneration: number;
  changes: PolicyChange[];
  /** What the rules refused and --force overrode. */
  overridden: ApplyRefusal[];
}

/** JSON with object keys sorted, so a file that lists keys in another order still counts as the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v);
}

export function refusalError(source: string, refusals: readonly ApplyRefusal[]) {
  return usageError('apply_refused', `${source} breaks the policy's transition rules (${refusals.length} change${refusals.length === 1 ? '' : 's'}):\n${refusals.map((r) => `  ${r.service}: ${r.message}`).join('\n')}\nFix the file, or write it anyway with --force --reason "…" (the reason is kept in the history).`, { refusals });
}

/**
 * `policy apply <file>`: a hand-written policy becomes the next generation
 * if every change in it is one the commands themselves could make (the
 * core's transition rules); otherwise it is refused, naming each change,
 * unless forced with a reason. One read of the head, one compare-and-set:
 * a change made meanwhile makes this exit 4 rather than be overwritten. A
 * file equal to the live policy writes nothing.
 */
export async function applyPolicy(deps: OpsDeps, req: ApplyRequest): Promise<ApplyResult> {
  if (req.force === true && (req.reason === undefined || req.reason.trim() === '')) {
    throw usageError('reason_required', '--force writes a policy the transition rules refuse: say why with --reason "…", which is kept in the history.');
  }
  const head = await deps.store.read();
  if (canonical(head.services) === canonical(req.policy.services)) {
    return { changed: false, generation: head.generation, previousGeneration: head.generation, changes: [], overridden: [] };
  }
  const refusals = applyRefusals(head, req.policy);
  if (refusals.length > 0 && req.force !== true) throw refusalError(req.source, refusals);
  const expected = head.generation;
  // The rules were checked against generation `expected`: a policy that moved on since is a conflict, never re-judged silently.
  const { policy, wrote } = await commitChange(deps, req.force === true ? 'apply forced' : 'apply', (current) => {
    if (current.generation !== expected) return current;
    const acknowledged = current.acknowledged ?? req.policy.acknowledged;
    return { ...req.policy, generation: current.generation, ...(acknowledged === undefined ? {} : { acknowledged }) };
  }, { retries: 0, ...(req.force === true ? { forced: true, reason: req.reason! } : {}) });
  if (!wrote) throw conflictError('policy_conflict', `The policy changed under you (expected generation ${expected}, found ${policy.generation}): run the command again.`, { expected, found: policy.generation });
  return { changed: true, generation: policy.generation, previousGeneration: expected, changes: diffPolicies(head, req.policy), overridden: req.force === true ? refusals : [] };
}
