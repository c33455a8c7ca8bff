import { usageError } from '../../core/errors.js';
import { describeChange, diffPolicies } from '../../core/policy-diff.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';

function generationArg(value: string | undefined, name: string): number {
  if (value === undefined || !/^\d{1,15}$/.test(value)) {
    throw usageError('invalid_generation', `${name} must be a generation number like 3 (see \`switchyard policy history\`), got ${JSON.stringify(value ?? '')}.`);
  }
  return Number(value);
}

export const run: CommandModule['run'] = async (ctx, args) => {
  const from = generationArg(args[0], '<genA>');
  const to = generationArg(args[1], '<genB>');
  const { store } = await openProject(ctx);
  const [before, after] = await Promise.all([store.revision(from), store.revision(to)]);
  const changes = diffPolicies(before, after);
  const sentences = changes.map(describeChange);
  ctx.out.result({ ok: true, from, to, changes, sentences });
  if (!ctx.out.json) ctx.out.print(sentences.length === 0 ? `no difference between generations ${from} and ${to}` : sentences.join('\n'));
};
