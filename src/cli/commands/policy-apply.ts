import { resolve } from 'node:path';
import { usageError } from '../../core/errors.js';
import { describeChange } from '../../core/policy-diff.js';
import { applyPolicy } from '../../ops/apply-policy.js';
import { readPolicyFile } from '../../store/policy-file.js';
import type { CommandModule } from '../commands.js';
import { commandOps } from '../ops-deps.js';
import { openProject } from '../project.js';
import { readListingEveryProblem } from './policy-validate.js';

/**
 * `policy apply <file>`: parse the file, run the apply operation (the
 * transition rules, one compare-and-set), print what changed. The file's
 * own generation and updatedAt are ignored: the store numbers revisions.
 */
export const run: CommandModule['run'] = async (ctx, args, options) => {
  const given = args[0];
  if (given === undefined) throw usageError('file_required', 'Name the policy file to apply: `switchyard policy apply policy.json`.');
  const path = resolve(ctx.cwd, given);
  const wanted = await readListingEveryProblem(() => readPolicyFile(path, () => usageError('policy_missing', `There is no file at ${path}.`)));
  const { loaded, store } = await openProject(ctx);
  const ops = commandOps(ctx, loaded, store, 'apply', { startDaemon: false });
  try {
    const result = await applyPolicy(ops.deps, { policy: wanted, source: path, force: options.force === true, ...(options.reason === undefined ? {} : { reason: String(options.reason) }) });
    if (!result.changed) {
      ctx.out.success(`${path} matches the live policy (generation ${result.generation}): nothing written`);
      ctx.out.result({ ok: true, applied: path, changed: false, generation: result.generation, previousGeneration: result.previousGeneration, changes: [] });
      return;
    }
    const sentences = result.changes.map(describeChange);
    for (const r of result.overridden) ctx.out.warn(`forced past the rules: ${r.service}: ${r.message}`);
    ctx.out.success(`applied ${path} as generation ${result.generation} (was ${result.previousGeneration}) to ${store.location}`);
    if (!ctx.out.json) ctx.out.print(sentences.join('\n'));
    ctx.out.result({ ok: true, applied: path, changed: true, generation: result.generation, previousGeneration: result.previousGeneration, changes: result.changes, sentences, forced: result.overridden.length > 0 ? result.overridden : undefined });
  } finally {
    await ops.close();
    await store.close();
  }
};
