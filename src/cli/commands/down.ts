import type { Config } from '../../config/schema.js';
import { failedError, usageError } from '../../core/errors.js';
import { parseProcessId } from '../../core/names.js';
import type { Policy } from '../../core/policy-schema.js';
import { Pm2Client, pm2DaemonPid } from '../../fleet/pm2-client.js';
import { FleetSet } from '../../fleet/fleets.js';
import { clearRouterIntent } from '../../fleet/router-intent.js';
import { stopLeftoverDataPlane } from '../../host/data-plane.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';
import { isRouterPm2Name } from '../router-listen.js';

/**
 * `switchyard down`: the router, every process of this project on every
 * host, and this project's PM2 daemon, stopped; the policy and its history
 * are kept, so `router start` and `deploy` bring it back. Each host gets its
 * own result; one unreachable host does not stop the others (exit 1 at the end).
 */

interface HostResult {
  host: string;
  stopped: string[];
  error?: string;
}

interface DaemonResult {
  pm2Home: string;
  stopped: boolean;
  /** PM2 names of processes that are not this project's, which keep the daemon running. */
  others: string[];
}

function belongsHere(name: string, services: Set<string>): boolean {
  // Every switchyard router of this PM2 home: the config's own and those started with --listen.
  if (isRouterPm2Name(name)) return true;
  const parsed = parseProcessId(name);
  return parsed !== null && services.has(parsed.service);
}

async function confirmDown(ctx: Context, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!ctx.interactive) {
    throw usageError('confirmation_required', 'down stops the router and every process of this project, and switchyard does not ask without a terminal (or with CI set): pass --yes to go ahead.');
  }
  const { confirm } = await import('@inquirer/prompts');
  return confirm({ message: 'Stop the router, every process of this project and its PM2 daemon? (the policy and history stay)', default: false });
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One local PM2 home: the router and the project's processes deleted (each
 * stopped gracefully, SIGINT then its kill timeout), then the daemon told to
 * exit by its pid. pm2.killDaemon() is not used: after it the CLI process
 * would not end on its own (STACK.md, PM2 trap 2), while a disconnect leaves
 * nothing behind. A daemon that also runs other things is left running.
 */
async function downLocal(pm2Home: string, services: Set<string>): Promise<{ host: HostResult; daemon: DaemonResult } | undefined> {
  const daemonPid = pm2DaemonPid(pm2Home);
  if (daemonPid === undefined) return undefined;
  const pm2 = await Pm2Client.connect(pm2Home);
  let others: string[];
  const stopped: string[] = [];
  try {
    const listed = await pm2.list();
    const ours = listed.filter((p) => belongsHere(p.name, services));
    await Promise.all(ours.map(async ({ name, pmId }) => {
      // By PM2's number: given a name like …1.4.0-rc.yml…, PM2 would read it as a file.
      await pm2.delete(pmId);
      stopped.push(name);
    }));
    others = (await pm2.list()).map((p) => p.name);
  } finally {
    pm2.disconnect();
  }
  if (others.length === 0) {
    process.kill(daemonPid, 'SIGTERM');
    if (!(await waitGone(daemonPid, 15_000))) throw failedError('daemon_did_not_stop', `the PM2 daemon of ${pm2Home} (pid ${daemonPid}) did not exit within 15s of SIGTERM.`);
  }
  return { host: { host: 'local', stopped: stopped.sort() }, daemon: { pm2Home, stopped: others.length === 0, others } };
}

/** Deletes every switchyard router of a local PM2 home (by PM2's number), leaving the rest to downLocal. */
async function stopRouters(pm2Home: string): Promise<string[]> {
  if (pm2DaemonPid(pm2Home) === undefined) return [];
  const pm2 = await Pm2Client.connect(pm2Home);
  try {
    const routers = (await pm2.list()).filter((p) => isRouterPm2Name(p.name));
    await Promise.all(routers.map((p) => pm2.delete(p.pmId)));
    return routers.map((p) => p.name);
  } finally {
    pm2.disconnect();
  }
}

async function downRemote(config: Config, hosts: string[], services: Set<string>): Promise<HostResult[]> {
  const fleets = new FleetSet(config, false);
  try {
    return await Promise.all(hosts.map(async (host): Promise<HostResult> => {
      try {
        const fleet = await fleets.get(host);
        if (fleet === undefined) return { host, stopped: [] };
        const ours = (await fleet.list()).map((p) => p.id).filter((id) => belongsHere(id, services));
        await Promise.all(ours.map((id) => fleet.remove(id)));
        return { host, stopped: ours.sort() };
      } catch (error) {
        return { host, stopped: [], error: error instanceof Error ? error.message : String(error) };
      }
    }));
  } finally {
    await fleets.closeAll();
  }
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const policy: Policy | undefined = await store.read().catch(() => undefined);
  if (!(await confirmDown(ctx, options.yes === true))) {
    ctx.out.info('nothing was stopped');
    ctx.out.result({ ok: true, cancelled: true });
    return;
  }
  const services = new Set([...Object.keys(config.services), ...Object.keys(policy?.services ?? {})]);
  const used = new Set([...Object.values(config.services).flatMap((s) => s.hosts), ...Object.values(policy?.services ?? {}).flatMap((s) => s.processes.map((p) => p.host))]);
  const remoteHosts = [...used].filter((h) => config.hosts[h] !== undefined && !config.hosts[h]!.local).sort();
  const localHomes = [...new Set([config.pm2Home, ...Object.values(config.hosts).filter((h) => h.local).map((h) => h.pm2Home ?? config.pm2Home)])];

  // Stopped on purpose: no later command brings the router back (fleet/router-intent.ts).
  await clearRouterIntent(config.stateDir);
  // The routers first: a router still running would see the processes go and start new ones in their place.
  const routers = (await Promise.all(localHomes.map((home) => stopRouters(home)))).flat();
  const remote = await downRemote(config, remoteHosts, services);
  const locals = (await Promise.all(localHomes.map((home) => downLocal(home, services)))).filter((l) => l !== undefined);
  if (locals[0] !== undefined) locals[0].host.stopped = [...locals[0].host.stopped, ...routers].sort();
  // A router's exit leaves HAProxy serving (restarts and upgrades cut no session): with the routers gone, end it here.
  const dataPlaneStopped = await stopLeftoverDataPlane(config);
  const hosts = [...locals.map((l) => l.host), ...remote];
  const daemons = locals.map((l) => l.daemon);

  for (const h of hosts) {
    if (h.error !== undefined) ctx.out.error(`${h.host}: ${h.error}`);
    else ctx.out.success(`${h.host}: stopped ${h.stopped.length === 0 ? 'nothing (none running)' : h.stopped.join(', ')}`);
  }
  for (const d of daemons) {
    if (d.stopped) ctx.out.success(`stopped the PM2 daemon of ${d.pm2Home}`);
    else ctx.out.warn(`kept the PM2 daemon of ${d.pm2Home}: it also runs ${d.others.join(', ')}, which are not this project's`);
  }
  if (dataPlaneStopped) ctx.out.success('stopped HAProxy, the data plane the router had left serving');
  if (locals.length === 0) ctx.out.info(`no PM2 daemon was running in ${localHomes.join(', ')}`);
  ctx.out.info(`kept the policy and its history in ${config.stateDir}`);
  const failed = hosts.filter((h) => h.error !== undefined);
  if (failed.length > 0) {
    throw failedError('down_incomplete', `could not stop everything: ${failed.map((h) => `${h.host}: ${h.error}`).join('; ')}`, { hosts, daemons });
  }
  ctx.out.result({ ok: true, hosts, daemons, dataPlaneStopped, stateDir: config.stateDir });
};
