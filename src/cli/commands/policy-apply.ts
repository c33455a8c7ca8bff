import { resolve } from 'node:path';
import { usageError } from '../../core/errors.js';
import { describeChange, diffPolicies } from '../../core/policy-diff.js';
import { readPolicyFile } from '../../store/policy-file.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { readListingEveryProblem } from './policy-validate.js';

/** JSON with object keys sorted, so a file that lists keys in another order still counts as the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v);
}

/**
 * `policy apply <file>`: a hand-written policy (kept in git, say) becomes
 * the next generation. The file's own generation and updatedAt are
 * ignored: the store numbers revisions. One read of the head, one
 * compare-and-set write, so a change made meanwhile makes this exit 4
 * rather than be overwritten. A file equal to the live policy writes
 * nothing.
 */
export const run: CommandModule['run'] = async (ctx, args) => {
  const given = args[0];
  if (given === undefined) throw usageError('file_required', 'Name the policy file to apply: `switchyard policy apply policy.json`.');
  const path = resolve(ctx.cwd, given);
  const wanted = await readListingEveryProblem(() => readPolicyFile(path, () => usageError('policy_missing', `There is no file at ${path}.`)));
  const { store } = await openProject(ctx);
  try {
    const head = await store.read();
    if (canonical(head.services) === canonical(wanted.services)) {
      ctx.out.success(`${path} matches the live policy (generation ${head.generation}): nothing written`);
      ctx.out.result({ ok: true, applied: path, changed: false, generation: head.generation, previousGeneration: head.generation, changes: [] });
      return;
    }
    const changes = diffPolicies(head, wanted);
    const written = await store.write({ ...wanted, generation: head.generation + 1 }, head.generation);
    const sentences = changes.map(describeChange);
    ctx.out.success(`applied ${path} as generation ${written.generation} (was ${head.generation}) to ${store.location}`);
    if (!ctx.out.json) ctx.out.print(sentences.join('\n'));
    ctx.out.result({ ok: true, applied: path, changed: true, generation: written.generation, previousGeneration: head.generation, changes, sentences });
  } finally {
    await store.close();
  }
};
