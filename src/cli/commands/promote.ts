import { promote } from '../../core/policy-transitions.js';
import { checkVersion } from '../../core/version.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { pickService } from '../service.js';

export const run: CommandModule['run'] = async (ctx, args) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const service = pickService(ctx, loaded.config);
  const before = await store.read();
  const previous = Object.hasOwn(before.services, service.name) ? before.services[service.name]!.target : null;
  // One read, one compare-and-swap write: a concurrent change makes this exit 4, never a lost update.
  const written = await store.write(promote(before, service.name, version, new Date(), service.drain.timeoutMs), before.generation);
  const draining = written.services[service.name]!.processes.filter((p) => p.version === previous && p.state === 'draining');
  ctx.out.success(`${service.name}: ${version} is the target (generation ${written.generation})${previous ? `; ${previous} is draining${draining[0]?.drainDeadline ? ` until ${draining[0].drainDeadline} at the latest` : ''}` : ''}`);
  ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: previous, generation: written.generation, draining: draining.map((p) => p.id) });
};
