import { ownerOf } from '../../ops/owner.js';
import { failedError, isSwitchyardError, usageError } from '../../core/errors.js';
import { portsInUse } from '../../core/plan-deploy.js';
import type { Policy } from '../../core/policy-schema.js';
import { checkVersion } from '../../core/version.js';
import { FleetSet } from '../../fleet/fleets.js';
import { cleanedUp, describeHosts, hostLine } from '../../ops/host-report.js';
import { launch, versionFolder } from '../../ops/launch.js';
import { liveInFleet } from '../../fleet/alive.js';
import type { Config } from '../../config/schema.js';
import { applyRole } from '../../ops/roles.js';
import { commitIfChanged } from '../../store/commit-if-changed.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { deployOptions, portList } from '../deploy-options.js';
import { printDryRun } from '../dry-run.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';
import { waitRetired } from '../wait-retired.js';
import { bringBack } from '../../ops/bring-back.js';

/** The version's active and draining entries that PM2 really runs, and those it no longer does. */
async function servingOf(config: Config, policy: Policy, service: string, version: string) {
  const entries = (policy.services[service]?.processes ?? []).filter((p) => p.version === version && (p.state === 'active' || p.state === 'draining'));
  if (entries.length === 0) return { live: [], dead: [] };
  const fleets = new FleetSet(config, false);
  try {
    return await liveInFleet(fleets, entries);
  } finally {
    await fleets.closeAll();
  }
}

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const opts = deployOptions(ctx.cwd, options);
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const before = await store.read();
  const previousTarget = before.services[service.name]?.target ?? null;
  // Hosts with no live process of the version: a process PM2 lost is not brought back, it is replaced.
  const { live, dead } = await servingOf(config, before, service.name, version);
  let missing = service.hosts.filter((h) => !live.some((p) => p.host === h));
  const lost = { ids: dead.map((p) => p.id), owner: ownerOf('deploy', new Date(), 60_000) };
  const ports = portList(options.port, service, missing);
  for (const [i, port] of (ports ?? []).entries()) {
    const host = missing[Math.floor(i / service.instances)]!;
    if (portsInUse(before, host).has(port)) throw usageError('port_in_use', `Port ${port} on host ${host} is held by a live process of the policy: pick another with --port, or retire that process first.`, { host, port });
  }
  const now = new Date();
  const role = opts.role;
  const sync = opts.syncFrom === undefined ? undefined : { from: opts.syncFrom, folder: versionFolder(service, version) };

  if (opts.dryRun) return printDryRun(ctx, { before, service, version, role, hosts: missing, ports, now, address: (h) => config.hosts[h]!.address });

  const started = Date.now();
  let written: Policy;
  let unchanged = false;
  let result: Awaited<ReturnType<typeof launch>> | undefined;
  const committed = missing.length > 0 ? undefined : await bringBack(() => commitIfChanged(store, (head) => applyRole(head, service, version, role, new Date(), lost)));
  if (committed !== undefined) {
    // Every host already runs it (active, or draining and brought back): only the policy changed.
    written = committed.policy;
    unchanged = !committed.wrote;
    ctx.out.success(committed.wrote
      ? `${service.name}@${version} already runs on every host: made it ${role.kind === 'target' ? 'the target' : role.kind === 'canary' ? `the canary at ${role.weight}%` : 'active'} (generation ${written.generation})`
      : `${service.name}@${version} is already ${role.kind === 'target' ? 'the target' : 'deployed'}: nothing to do`);
  } else {
    if (missing.length === 0) {
      // Its draining processes were claimed for a stop meanwhile: start new incarnations instead.
      ctx.out.info(`${service.name}@${version}'s draining processes are being stopped: starting new ones`);
      missing = [...service.hosts];
    }
    const { token } = await ensureToken(config.stateDir);
    const fleets = new FleetSet(config, true);
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      if (missing.length < service.hosts.length) ctx.out.info(`${service.name}@${version} already runs on ${service.hosts.filter((h) => !missing.includes(h)).join(', ')}: deploying to ${missing.join(', ')} only`);
      result = await launch({
        config, dir: loaded.dir, service, version, store, fleets, token, env: ctx.env,
        owner: ownerOf('deploy', now, service.readiness.timeoutMs * 2 + 60_000),
        finish: (policy) => applyRole(policy, service, version, role, new Date(), lost),
        onStep: (m) => progress.step(m),
        hosts: missing, parallel: opts.parallel, allowPartial: opts.allowPartial,
        ...(ports === undefined ? {} : { ports }),
        ...(sync === undefined ? {} : { sync }),
      });
      progress.stop();
      if (!result.ok) {
        const cleanup = cleanedUp(result) ? 'every process started for it was removed' : 'some processes started for it could not be removed (see below)';
        throw failedError('deploy_failed', `${service.name}@${version} was not deployed; ${cleanup}, and the policy names no process of it as live.\n${describeHosts(result)}`, { service: service.name, version, hosts: result.hosts, processes: result.processes, generation: result.policy?.generation ?? null });
      }
      if (result.partial) ctx.out.warn(`${service.name}@${version} is deployed on some hosts only (--allow-partial):\n${describeHosts(result)}`);
      for (const h of result.hosts) if (h.outcome === 'ready') progress.done(hostLine(h));
      written = result.policy!;
    } finally {
      progress.stop();
      await fleets.closeAll();
    }
    const what = role.kind === 'canary' ? `canary at ${role.weight}%` : role.kind === 'target' ? 'the target' : 'active, not promoted';
    ctx.out.success(`${service.name}@${version} deployed as ${what} in ${Date.now() - started} ms (policy generation ${written.generation})${role.kind === 'target' && previousTarget && previousTarget !== version ? `; ${previousTarget} is draining` : ''}`);
  }

  const warnings = await routerWarnings(config, (m) => ctx.out.warn(m));
  const summary = {
    service: service.name,
    version,
    promoted: role.kind === 'target',
    canary: role.kind === 'canary' ? role.weight : null,
    previousTarget,
    generation: written.generation,
    partial: result?.partial ?? false,
    hosts: result?.hosts ?? [],
    processes: result?.processes ?? [],
    elapsedMs: Date.now() - started,
    unchanged,
    warnings,
  };
  let waitedMs: number | undefined;
  if (opts.wait && role.kind === 'target' && previousTarget !== null && previousTarget !== version) {
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      ({ waitedMs } = await waitRetired({ store, service: service.name, version: previousTarget, timeoutMs: opts.timeoutMs ?? service.drain.timeoutMs + 60_000, progress }));
    } catch (error) {
      // The deploy itself happened: a timeout says what was deployed, not only that the wait ran out.
      if (isSwitchyardError(error) && error.kind === 'timeout') throw Object.assign(error, { details: { ...(error.details ?? {}), deployed: summary } });
      throw error;
    } finally {
      progress.stop();
    }
    ctx.out.success(`${service.name}@${previousTarget} retired after ${waitedMs} ms`);
  }
  ctx.out.result({ ok: true, ...summary, ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}) });
};
