import { ownerOf } from '../../ops/owner.js';
import { failedError, usageError } from '../../core/errors.js';
import { processesOf } from '../../core/policy-query.js';
import type { Policy } from '../../core/policy-schema.js';
import { checkVersion } from '../../core/version.js';
import { FleetSet } from '../../fleet/fleets.js';
import { describeHosts } from '../../ops/host-report.js';
import { launch } from '../../ops/launch.js';
import { liveInFleet } from '../../fleet/alive.js';
import { applyRole } from '../../ops/roles.js';
import { commitIfChanged } from '../../store/commit-if-changed.js';
import type { Store } from '../../store/store.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';
import { bringBack } from '../../ops/bring-back.js';

/** The most recent earlier target of a service, read from the policy history. */
async function previousTarget(store: Store, service: string, current: string | null, generation: number): Promise<string | undefined> {
  const entries = (await store.history()).filter((e) => e.broken === undefined && e.generation < generation).sort((a, b) => b.generation - a.generation);
  for (const entry of entries) {
    const revision = await store.revision(entry.generation);
    const target = Object.hasOwn(revision.services, service) ? revision.services[service]!.target : null;
    if (target !== null && target !== current) return target;
  }
  return undefined;
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const before = await store.read();
  const current = before.services[service.name]?.target ?? null;
  const to = options.to !== undefined ? checkVersion(options.to) : await previousTarget(store, service.name, current, before.generation);
  if (to === undefined) {
    throw usageError('no_previous_target', `${service.name} has no earlier target in the policy history to roll back to${current ? ` (the target is ${current})` : ''}: name one with --to <version>.`);
  }
  if (to === current) {
    ctx.out.success(`${service.name}: ${to} is already the target; nothing to roll back`);
    ctx.out.result({ ok: true, service: service.name, target: to, previousTarget: current, restarted: [], generation: before.generation, unchanged: true });
    return;
  }
  const now = new Date();
  // Only processes PM2 really runs can take logins again; lost ones have their stop claimed instead.
  const readFleets = new FleetSet(config, false);
  const { live: serving, dead } = await liveInFleet(readFleets, processesOf(before, service.name, to, ['active', 'draining'])).finally(() => readFleets.closeAll());
  const lost = { ids: dead.map((p) => p.id), owner: ownerOf('rollback', now, 60_000) };
  if (options.dryRun === true) {
    if (serving.length > 0) return printPlan(ctx, before, applyRole(before, service, to, { kind: 'rollback' }, now, lost), []);
    ctx.out.info(`${service.name}@${to} has no live process: a rollback starts ${service.instances} new process${service.instances === 1 ? '' : 'es'} on each of ${service.hosts.join(', ')} first`);
    return printPlan(ctx, before, before, []);
  }
  let written: Policy | undefined;
  let restarted: string[] = [];
  if (serving.length > 0) {
    written = (await bringBack(() => commitIfChanged(store, (head) => applyRole(head, service, to, { kind: 'rollback' }, new Date(), lost), { retries: 0 })))?.policy;
  }
  // No live process (or they were claimed for a stop meanwhile): start new incarnations, then switch.
  if (written === undefined) {
    // Its processes were retired (or are being stopped): start new incarnations, then switch in the record commit.
    const { token } = await ensureToken(config.stateDir);
    const fleets = new FleetSet(config, true);
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      progress.step(`${service.name}@${to} has no live process: starting it again`);
      const result = await launch({
        config, dir: loaded.dir, service, version: to, store, fleets, token, env: ctx.env,
        owner: ownerOf('rollback', now, service.readiness.timeoutMs * 2 + 60_000),
        finish: (policy) => applyRole(policy, service, to, { kind: 'rollback' }, new Date(), lost),
        onStep: (m) => progress.step(m),
      });
      progress.stop();
      if (!result.ok) {
        throw failedError('rollback_failed', `Could not start ${service.name}@${to} again, so nothing was rolled back; the target is still ${current ?? 'unset'}.\n${describeHosts(result)}`, { processes: result.processes, hosts: result.hosts });
      }
      written = result.policy!;
      restarted = result.claimed;
    } finally {
      progress.stop();
      await fleets.closeAll();
    }
  }
  ctx.out.success(`${service.name}: rolled back to ${to} (generation ${written.generation})${restarted.length > 0 ? `, started ${restarted.join(', ')}` : ''}${current ? `; ${current} is draining` : ''}`);
  const warnings = await routerWarnings(config, (m) => ctx.out.warn(m));
  ctx.out.result({ ok: true, service: service.name, target: to, previousTarget: current, restarted, generation: written.generation, warnings });
};
