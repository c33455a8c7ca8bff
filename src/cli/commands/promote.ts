import { checkVersion } from '../../core/version.js';
import { promote } from '../../ops/promote.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { commandOps } from '../ops-deps.js';
import { openProject } from '../project.js';
import { routerComeback, type RouterComebackFields } from '../router-comeback.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';

/** `promote <version>`: parse, run the promote operation, print. */
export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const service = pickService(ctx, loaded.config);
  const ops = commandOps(ctx, loaded, store, 'promote', { startDaemon: false });
  const dryRun = options.dryRun === true;
  let comeback: RouterComebackFields | undefined;
  let result;
  try {
    if (!dryRun) comeback = await routerComeback(ctx, loaded, ops.deps);
    result = await promote(ops.deps, { service, version, dryRun });
  } finally {
    await ops.close();
  }
  if (dryRun) return printPlan(ctx, result.before, result.after, []);
  const previous = result.unchanged ? version : result.previousTarget;
  ctx.out.success(result.unchanged
    ? `${service.name}: ${version} is already the target (generation ${result.generation}); nothing to do`
    : `${service.name}: ${version} is the target (generation ${result.generation})${previous ? `; ${previous} is draining${result.drainDeadline ? ` until ${result.drainDeadline} at the latest` : ''}` : ''}`);
  // Said after an unchanged promote too: nothing routes while the router is down.
  const warnings = await routerWarnings(loaded.config, (m) => ctx.out.warn(m));
  ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: previous, generation: result.generation, ...(result.unchanged ? { unchanged: true } : {}), draining: result.draining, warnings, ...comeback });
};
