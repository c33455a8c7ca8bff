import { steerRollout, type SteerVerb } from '../ops/rollout-steer.js';
import type { CommandModule } from './commands.js';
import { printPlan } from './dry-run.js';
import { commandOps } from './ops-deps.js';
import { openProject } from './project.js';
import { rolloutView } from './rollout-view.js';
import { routerWarnings } from './router-warnings.js';
import { pickService } from './service.js';

const DONE: Record<SteerVerb, string> = {
  pause: 'paused: its canary weight holds, and no verdict moves it until `switchyard rollout resume`',
  resume: 'resumed: the step is held for its whole pause again, judged on fresh figures',
  abort: 'aborted: the canary is removed, the target stays, and the new version drains',
  promote: 'promoted: the remaining steps are skipped, the new version is the target, and the old one drains',
};

/** `rollout pause|resume|abort|promote`: parse, run the steering operation, print (`--dry-run`: the diff only). */
export function steerCommand(verb: SteerVerb): CommandModule['run'] {
  return async (ctx, _args, options) => {
    const { loaded, store } = await openProject(ctx);
    const service = pickService(ctx, loaded.config);
    const dryRun = options.dryRun === true;
    const ops = commandOps(ctx, loaded, store, `rollout-${verb}`, { startDaemon: false });
    const result = await steerRollout(ops.deps, { service, verb, dryRun, ...(typeof options.reason === 'string' ? { reason: options.reason } : {}) }).finally(() => ops.close());
    if (dryRun) return printPlan(ctx, result.before, result.after, []);
    const view = rolloutView(service.name, result.rollout, result.generation, new Date());
    if (result.unchanged) ctx.out.success(`the rollout of ${service.name}@${result.version} is already ${result.rollout.state}: nothing to do`);
    else ctx.out.success(`the rollout of ${service.name}@${result.version} is ${DONE[verb]} (generation ${result.generation})`);
    const warnings = result.unchanged ? [] : await routerWarnings(loaded.config, (m) => ctx.out.warn(m));
    ctx.out.result({ ok: true, verb, unchanged: result.unchanged, generation: result.generation, rollout: view, warnings });
  };
}
