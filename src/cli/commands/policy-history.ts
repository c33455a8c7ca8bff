import { describeChange, diffPolicies } from '../../core/policy-diff.js';
import type { Policy } from '../../core/policy-schema.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { renderTable } from '../table.js';

export const run: CommandModule['run'] = async (ctx) => {
  const { store } = await openProject(ctx);
  const entries = await store.history();
  const revisions: Array<{ generation: number; updatedAt: string | null; changes: string[] }> = [];
  let previous: Policy | null = null;
  for (const entry of entries) {
    const policy = await store.revision(entry.generation);
    const changes = diffPolicies(previous, policy).map(describeChange);
    revisions.push({ generation: policy.generation, updatedAt: policy.updatedAt ?? null, changes });
    previous = policy;
  }
  ctx.out.result({ ok: true, revisions });
  if (ctx.out.json) return;
  if (revisions.length === 0) {
    ctx.out.print('no revisions yet');
    return;
  }
  const rows = revisions.map((r) => [String(r.generation), r.updatedAt ?? '-', r.changes.length === 0 ? (r.generation === 0 ? 'created' : 'no change') : r.changes.join('; ')]);
  ctx.out.print(renderTable([['generation', 'time', 'what changed'], ...rows]));
};
