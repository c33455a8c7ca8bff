import { describeChange, diffPolicies } from '../../core/policy-diff.js';
import type { Change, Policy } from '../../core/policy-schema.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { renderTable } from '../table.js';

interface Revision {
  generation: number;
  updatedAt: string | null;
  changes: string[];
  /** The operation that made it, who ran it (user and host, or the CI job), and the reason of a forced change. */
  change?: Change;
  /** Why a revision file could not be read; its neighbours are still listed. */
  broken?: string;
}

export const run: CommandModule['run'] = async (ctx) => {
  const { store } = await openProject(ctx);
  const entries = await store.history();
  const revisions: Revision[] = [];
  let previous: Policy | null = null;
  for (const entry of entries) {
    if (entry.broken !== undefined) {
      revisions.push({ generation: entry.generation, updatedAt: entry.updatedAt ?? null, changes: [], broken: entry.broken });
      continue;
    }
    const policy = await store.revision(entry.generation);
    const changes = diffPolicies(previous, policy).map(describeChange);
    revisions.push({ generation: policy.generation, updatedAt: policy.updatedAt ?? null, changes, ...(policy.change === undefined ? {} : { change: policy.change }) });
    previous = policy;
  }
  ctx.out.result({ ok: true, revisions });
  if (ctx.out.json) return;
  if (revisions.length === 0) {
    ctx.out.print('no revisions yet');
    return;
  }
  const describe = (r: Revision): string => {
    if (r.broken !== undefined) return `unreadable: ${r.broken}`;
    if (r.changes.length > 0) return r.changes.join('; ');
    return r.generation === 0 ? 'created' : 'no change';
  };
  const who = (r: Revision): string => {
    const c = r.change;
    if (c === undefined) return '-';
    const by = c.by?.ci ?? [c.by?.user, c.by?.host].filter(Boolean).join('@');
    return `${c.op}${by === '' ? '' : ` by ${by}`}${c.forced === true ? ` (forced: ${c.reason ?? 'no reason'})` : ''}`;
  };
  ctx.out.print(renderTable([['generation', 'time', 'by', 'what changed'], ...revisions.map((r) => [String(r.generation), r.updatedAt ?? '-', who(r), describe(r)])]));
};
