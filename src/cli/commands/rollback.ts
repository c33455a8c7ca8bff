import { failedError, usageError } from '../../core/errors.js';
import { processesOf } from '../../core/policy-query.js';
import type { Policy } from '../../core/policy-schema.js';
import { addProcesses, markActive, rollback } from '../../core/policy-transitions.js';
import { FleetSet } from '../../rollout/fleets.js';
import { startVersion } from '../../rollout/start-version.js';
import type { Store } from '../../store/store.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { pickService } from '../service.js';
import { describeFailures } from '../start-report.js';

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

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const before = await store.read();
  const current = Object.hasOwn(before.services, service.name) ? before.services[service.name]!.target : null;
  const to = await previousTarget(store, service.name, current, before.generation);
  if (to === undefined) {
    throw usageError('no_previous_target', `${service.name} has no earlier target in the policy history to roll back to${current ? ` (the target is ${current})` : ''}.`);
  }
  const serving = processesOf(before, service.name, to, ['active', 'draining']);
  let written: Policy;
  let restarted: string[] = [];
  if (serving.length > 0) {
    written = await store.write(rollback(before, service.name, to, new Date(), service.drain.timeoutMs), before.generation);
  } else {
    // Its processes were retired: start them again first, then switch in one write.
    const { token } = await ensureToken(config.stateDir);
    const fleets = new FleetSet(config, true);
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      progress.step(`${service.name}@${to} was retired: starting it again`);
      const result = await startVersion({ config, dir: loaded.dir, service, version: to, policy: before, fleets, token, env: ctx.env, onStep: (m) => progress.step(m) });
      progress.stop();
      if (!result.ok) {
        throw failedError('rollback_failed', `Could not start ${service.name}@${to} again, so nothing was rolled back; the policy is unchanged.\n${describeFailures(result.processes)}`, { processes: result.processes });
      }
      const now = new Date();
      try {
        written = await store.update((p) => rollback(markActive(addProcesses(p, service.name, result.entries, now), service.name, result.entries.map((e) => e.id), now), service.name, to, now, service.drain.timeoutMs));
      } catch (error) {
        await Promise.allSettled(result.entries.map(async (e) => (await fleets.require(e.host)).remove(e.id)));
        throw error;
      }
      restarted = result.entries.map((e) => e.id);
    } finally {
      progress.stop();
      await fleets.closeAll();
    }
  }
  ctx.out.success(`${service.name}: rolled back to ${to} (generation ${written.generation})${restarted.length > 0 ? `, restarted ${restarted.join(', ')}` : ''}${current ? `; ${current} is draining` : ''}`);
  ctx.out.result({ ok: true, service: service.name, target: to, previousTarget: current, restarted, generation: written.generation });
};
