import { usageError } from '../../core/errors.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { rolloutLines, rolloutView, type RolloutView } from '../rollout-view.js';
import { watchUntilStopped } from '../watch.js';

/**
 * `rollout status [--watch]`: each service's rollout as the policy holds
 * it (the plan, the step, the time left in its pause, the recent verdicts
 * with their figures, the state and why), read from the store, so it
 * works whichever router runs the plan, and with none. --watch redraws
 * every second until Ctrl-C.
 */
export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const wanted = ctx.options.service;
  if (wanted !== undefined && !Object.hasOwn(loaded.config.services, wanted)) {
    throw usageError('unknown_service', `There is no service ${JSON.stringify(wanted)} in the config; it has ${Object.keys(loaded.config.services).join(', ') || 'none'}.`);
  }
  const show = async () => {
    const policy = await store.read();
    const names = wanted === undefined ? Object.keys(policy.services).sort() : [wanted];
    const views: Record<string, RolloutView | null> = {};
    for (const name of names) {
      const r = Object.hasOwn(policy.services, name) ? policy.services[name]!.rollout : undefined;
      views[name] = r === undefined ? null : rolloutView(name, r, policy.generation, new Date());
    }
    if (ctx.out.json && options.watch !== true) return ctx.out.result({ ok: true, generation: policy.generation, rollouts: views });
    const text = Object.entries(views).map(([name, v]) => (v === null ? `${name}: no rollout (start one with \`switchyard deploy <version> --steps\`)` : rolloutLines(v).join('\n')));
    if (options.watch === true && process.stdout.isTTY === true) process.stdout.write('\u001b[2J\u001b[H');
    ctx.out.print(text.length === 0 ? 'no service in the policy yet' : text.join('\n\n'));
  };
  if (options.watch !== true) return show();
  await watchUntilStopped(show, 1000);
};
