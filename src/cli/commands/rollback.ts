import { checkVersion } from '../../core/version.js';
import { rollback } from '../../ops/rollback.js';
import { readToken, requireToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { commandOps } from '../ops-deps.js';
import { openProject } from '../project.js';
import { routerComeback, type RouterComebackFields } from '../router-comeback.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';

/** `rollback [--to <version>]`: parse, run the rollback operation, print. */
export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const to = options.to !== undefined ? checkVersion(options.to) : undefined;
  const dryRun = options.dryRun === true;
  const ops = commandOps(ctx, loaded, store, 'rollback', { startDaemon: !dryRun });
  let result;
  let comeback: RouterComebackFields | undefined;
  try {
    const token = dryRun ? ((await readToken(config.stateDir)) ?? '') : await requireToken(config.stateDir, config.router.urls, 'the processes it starts could not sign their heartbeats');
    if (!dryRun) comeback = await routerComeback(ctx, loaded, ops.deps);
    result = await rollback(ops.deps, { service, ...(to === undefined ? {} : { to }), token, env: ctx.env, dryRun });
  } finally {
    await ops.close();
  }
  if (dryRun) {
    if (result.needsStart) ctx.out.info(`${service.name}@${result.target} has no live process: a rollback starts ${service.instances} new process${service.instances === 1 ? '' : 'es'} on each of ${service.hosts.join(', ')} first`);
    return printPlan(ctx, result.before, result.after, []);
  }
  const current = result.previousTarget;
  ctx.out.success(result.unchanged
    ? `${service.name}: ${result.target} is already the target; nothing to roll back`
    : `${service.name}: rolled back to ${result.target} (generation ${result.generation})${result.restarted.length > 0 ? `, started ${result.restarted.join(', ')}` : ''}${current ? `; ${current} is draining` : ''}`);
  // Said after an unchanged rollback too: nothing routes while the router is down.
  const warnings = await routerWarnings(config, (m) => ctx.out.warn(m));
  ctx.out.result({ ok: true, service: service.name, target: result.target, previousTarget: current, restarted: result.restarted, generation: result.generation, ...(result.unchanged ? { unchanged: true } : {}), warnings, ...comeback });
};
