import { claimedGeneration } from './names.js';
import type { Policy } from './policy-schema.js';

/**
 * A head that went back: a store that lost its last commits (a Redis
 * failover, a restored backup, a flushed store set up again). It is seen
 * from what outlives the store: the generations a reader has already
 * served, and the names of running processes, which carry the generation
 * that claimed them. Until an operator acknowledges it (`status --prune
 * --yes` writes `acknowledged`), the controller stops nothing it cannot
 * account for.
 */
export interface Regression {
  /** The generation the store is at now. */
  head: number;
  /** The highest generation seen before: the store lost head+1 … highest. */
  highest: number;
  /** What proved it: a generation served before, or running processes named by lost generations. */
  evidence: string;
}

/** The regression the witnesses prove against this head, if any is unacknowledged. */
export function regressionOf(head: Policy, seenGenerations: Iterable<number>, runningNames: Iterable<string>): Regression | undefined {
  const floor = Math.max(head.generation, head.acknowledged?.through ?? -1);
  let highest = -1;
  let evidence = '';
  for (const g of seenGenerations) {
    if (g > floor && g > highest) {
      highest = g;
      evidence = `generation ${g} was served before`;
    }
  }
  const named: string[] = [];
  for (const name of runningNames) {
    const g = claimedGeneration(name);
    if (g === undefined || g <= floor) continue;
    named.push(name);
    if (g > highest) highest = g;
  }
  if (highest < 0) return undefined;
  if (named.length > 0) evidence = `${evidence === '' ? '' : `${evidence}; `}PM2 runs ${named.slice(0, 5).join(', ')}${named.length > 5 ? ', …' : ''}, claimed by generations the store no longer has`;
  return { head: head.generation, highest, evidence };
}

/** One sentence for people: what went back, and what to do. */
export function describeRegression(r: Regression): string {
  const what = r.highest > r.head ? `went back from generation ${r.highest} to ${r.head}` : `holds other content under generation ${r.head} than before`;
  return `the policy store ${what} (${r.evidence}): revisions were lost (a failover, a restored backup). Nothing is stopped that the store cannot account for until an operator looks: check \`switchyard status\`, redeploy what is missing, then confirm with \`switchyard status --prune --yes\``;
}
