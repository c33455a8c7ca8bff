import { isSwitchyardError } from '../../core/errors.js';
import { checkVersion } from '../../core/version.js';
import { deploy, deployPlan } from '../../ops/deploy.js';
import { hostLine } from '../../ops/host-report.js';
import { versionFolder } from '../../ops/launch.js';
import { requireToken } from '../../store/token.js';
import type { Role } from '../../ops/roles.js';
import type { CommandModule } from '../commands.js';
import { deployOptions, portList } from '../deploy-options.js';
import { afterRolloutDeploy, rolloutRole } from '../deploy-rollout.js';
import { printDryRun } from '../dry-run.js';
import { commandBy, commandOps } from '../ops-deps.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { routerComeback, type RouterComebackFields } from '../router-comeback.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';
import { waitRetired } from '../wait-retired.js';

function roleText(role: Role): string {
  if (role.kind === 'canary') return `the canary at ${role.weight}%`;
  if (role.kind === 'rollout') return `the canary at ${role.plan.steps[0]!.canary}%, the first step of its rollout`;
  return role.kind === 'target' ? 'the target' : 'active, not promoted';
}

/**
 * `deploy <version>`: parse, run the deploy operation, print. `--wait`
 * follows the old version's retirement, or with `--steps` the plan the
 * router runs (deploy-rollout.ts).
 */
export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const opts = deployOptions(ctx.cwd, options);
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const sync = opts.syncFrom === undefined ? undefined : { from: opts.syncFrom, folder: versionFolder(service, version) };
  const role = opts.steps === undefined ? opts.role : rolloutRole(opts.steps, service, commandBy(ctx.env));
  const ops = commandOps(ctx, loaded, store, 'deploy', { startDaemon: !opts.dryRun });
  const started = Date.now();
  let result;
  let comeback: RouterComebackFields;
  try {
    const before = await store.read();
    const { missing } = await deployPlan(ops.deps, before, service, version);
    const ports = portList(options.port, service, missing);
    if (opts.dryRun) return printDryRun(ctx, { before, service, version, role, hosts: missing, ports, now: new Date(), address: (h) => config.hosts[h]!.address });
    const token = await requireToken(config.stateDir, config.router.urls, 'the processes it starts could not sign their heartbeats');
    comeback = await routerComeback(ctx, loaded, ops.deps);
    result = await deploy(ops.deps, {
      service, version, role, token, env: ctx.env, parallel: opts.parallel, allowPartial: opts.allowPartial,
      ...(ports === undefined ? {} : { ports }), ...(sync === undefined ? {} : { sync }),
    });
  } finally {
    await ops.close();
  }
  const what = roleText(role);
  if (result.broughtBack) {
    ctx.out.success(result.unchanged
      ? `${service.name}@${version} is already ${role.kind === 'target' ? 'the target' : 'deployed'}: nothing to do`
      : `${service.name}@${version} already runs on every host: made it ${what === 'active, not promoted' ? 'active' : what} (generation ${result.generation})`);
  } else {
    if (result.partial) ctx.out.warn(`${service.name}@${version} is deployed on some hosts only (--allow-partial):\n${result.hosts.map((h) => `  ${hostLine(h)}`).join('\n')}`);
    for (const h of result.hosts) if (h.outcome === 'ready') ctx.out.success(hostLine(h));
    const previous = result.previousTarget;
    ctx.out.success(`${service.name}@${version} deployed as ${what} in ${Date.now() - started} ms (policy generation ${result.generation})${role.kind === 'target' && previous && previous !== version ? `; ${previous} is draining` : ''}`);
  }
  const warnings = await routerWarnings(config, (m) => ctx.out.warn(m));
  const summary = {
    service: service.name, version, promoted: role.kind === 'target', canary: role.kind === 'canary' ? role.weight : (result.rollout?.steps[result.rollout.step]?.canary ?? null),
    previousTarget: result.previousTarget, generation: result.generation, partial: result.partial, hosts: result.hosts,
    processes: result.processes, elapsedMs: Date.now() - started, unchanged: result.unchanged, warnings, ...comeback,
  };
  const rollout = await afterRolloutDeploy(ctx, { store, service, role, rollout: result.rollout, generation: result.generation, wait: opts.wait, timeoutMs: opts.timeoutMs, deployed: summary });
  if (role.kind === 'rollout') {
    ctx.out.result({ ok: true, ...summary, ...rollout });
    return;
  }
  let waitedMs: number | undefined;
  const previous = result.previousTarget;
  if (opts.wait && role.kind === 'target' && previous !== null && previous !== version) {
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      ({ waitedMs } = await waitRetired({ store, service: service.name, version: previous, timeoutMs: opts.timeoutMs ?? service.drain.timeoutMs + 60_000, progress }));
    } catch (error) {
      // The deploy itself happened: a timeout says what was deployed, not only that the wait ran out.
      if (isSwitchyardError(error) && error.kind === 'timeout') throw Object.assign(error, { details: { ...(error.details ?? {}), deployed: summary } });
      throw error;
    } finally {
      progress.stop();
    }
    ctx.out.success(`${service.name}@${previous} retired after ${waitedMs} ms`);
  }
  ctx.out.result({ ok: true, ...summary, ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}) });
};
