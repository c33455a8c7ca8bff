import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '../../core/duration.js';
import { failedError, usageError } from '../../core/errors.js';
import { processesOf } from '../../core/policy-query.js';
import type { Policy } from '../../core/policy-schema.js';
import { addProcesses, markActive, promote, setCanary } from '../../core/policy-transitions.js';
import { checkVersion } from '../../core/version.js';
import { FleetSet } from '../../rollout/fleets.js';
import { cleanedUp, describeHosts, hostLine } from '../../rollout/host-report.js';
import { DEFAULT_PARALLEL } from '../../rollout/parallel.js';
import { startVersion, versionFolder } from '../../rollout/start-version.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { routerUrl } from '../router-client.js';
import { pickService } from '../service.js';
import { waitRetired } from '../wait-retired.js';

function canaryWeight(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const weight = Number(value);
  if (!/^\d+(\.\d+)?$/.test(String(value)) || weight <= 0 || weight > 100) {
    throw usageError('invalid_canary', `--canary takes a percentage above 0 and at most 100, like 10; got ${JSON.stringify(value)}.`);
  }
  return weight;
}

function parallelLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_PARALLEL;
  if (!/^\d{1,4}$/.test(String(value)) || Number(value) < 1 || Number(value) > 1000) {
    throw usageError('invalid_parallel', `--parallel takes how many hosts to work on at once, a whole number from 1 to 1000; got ${JSON.stringify(value)}.`);
  }
  return Number(value);
}

/** The local folder --sync copies from: it must exist and be a folder. */
function syncSource(cwd: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const from = resolve(cwd, String(value));
  let isDir = false;
  try {
    isDir = statSync(from).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw usageError('invalid_sync', `--sync takes the folder holding the version's release on this machine; ${from} is not a folder.`);
  return from;
}

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const weight = canaryWeight(options.canary);
  const promoteIt = options.promote !== false && weight === undefined;
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(String(options.timeout), '--timeout');
  const parallel = parallelLimit(options.parallel);
  const syncFrom = syncSource(ctx.cwd, options.sync);
  const allowPartial = options.allowPartial === true;
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const before = await store.read();

  const sync = syncFrom === undefined ? undefined : { from: syncFrom, folder: versionFolder(service, version) };
  const live = Object.hasOwn(before.services, service.name) ? processesOf(before, service.name, version, ['active']) : [];
  // A version already active on some hosts (an earlier --allow-partial) is deployed to the others only.
  const missingHosts = service.hosts.filter((h) => !live.some((p) => p.host === h));
  if (live.length > 0 && missingHosts.length === 0) {
    ctx.out.success(`${service.name}@${version} is already active (${live.map((p) => p.id).join(', ')}): nothing to deploy`);
    ctx.out.result({ ok: true, service: service.name, version, alreadyActive: true, generation: before.generation });
    return;
  }

  const { token } = await ensureToken(config.stateDir);
  const fleets = new FleetSet(config, true);
  const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
  const started = Date.now();
  try {
    if (live.length > 0) ctx.out.info(`${service.name}@${version} already runs on ${[...new Set(live.map((p) => p.host))].join(', ')}: deploying to ${missingHosts.join(', ')} only`);
    const result = await startVersion({
      config, dir: loaded.dir, service, version, policy: before, fleets, token, env: ctx.env, onStep: (m) => progress.step(m),
      hosts: missingHosts, parallel, allowPartial, ...(sync === undefined ? {} : { sync }),
    });
    progress.stop();
    if (!result.ok) {
      const cleanup = cleanedUp(result) ? 'every process started for it was removed' : 'some processes started for it could not be removed (see below)';
      throw failedError('deploy_failed', `${service.name}@${version} was not deployed; ${cleanup} and the policy is unchanged.\n${describeHosts(result)}`, { service: service.name, version, hosts: result.hosts, processes: result.processes });
    }
    if (result.partial) {
      ctx.out.warn(`${service.name}@${version} is deployed on some hosts only (--allow-partial):\n${describeHosts(result)}`);
    }
    const previousTarget = Object.hasOwn(before.services, service.name) ? before.services[service.name]!.target : null;
    const now = new Date();
    let written: Policy;
    try {
      written = await store.update((current) => {
        let next = addProcesses(current, service.name, result.entries, now, { match: service.match, login: service.login });
        next = markActive(next, service.name, result.entries.map((e) => e.id), now);
        const svc = next.services[service.name]!;
        svc.match = service.match;
        svc.login = service.login;
        if (promoteIt && svc.target !== version) next = promote(next, service.name, version, now, service.drain.timeoutMs);
        if (weight !== undefined) next = setCanary(next, service.name, { version, weight });
        return next;
      });
    } catch (error) {
      // The processes are up but the policy refused them: take them down again.
      await Promise.allSettled(result.entries.map(async (e) => (await fleets.require(e.host)).remove(e.id)));
      throw error;
    }
    for (const h of result.hosts) if (h.outcome === 'ready') progress.done(hostLine(h));
    const role = weight !== undefined ? `canary at ${weight}%` : promoteIt ? 'the target' : 'active, not promoted';
    ctx.out.success(`${service.name}@${version} deployed as ${role} in ${Date.now() - started} ms (policy generation ${written.generation})${promoteIt && previousTarget && previousTarget !== version ? `; ${previousTarget} is draining` : ''}`);

    let waitedMs: number | undefined;
    if (options.wait === true && promoteIt && previousTarget !== null && previousTarget !== version) {
      ({ waitedMs } = await waitRetired({ store, service: service.name, version: previousTarget, timeoutMs: timeoutMs ?? service.drain.timeoutMs + 60_000, progress, routerUrl: routerUrl(config), warn: (m) => ctx.out.warn(m) }));
      progress.stop();
      ctx.out.success(`${service.name}@${previousTarget} retired after ${waitedMs} ms`);
    }
    ctx.out.result({
      ok: true,
      service: service.name,
      version,
      promoted: promoteIt,
      canary: weight ?? null,
      previousTarget,
      generation: written.generation,
      partial: result.partial,
      hosts: result.hosts,
      processes: result.processes,
      elapsedMs: Date.now() - started,
      ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}),
    });
  } finally {
    progress.stop();
    await fleets.closeAll();
  }
};
