import type { Config } from '../config/schema.js';
import type { Policy } from '../core/policy-schema.js';
import { HaproxyDataPlane } from '../haproxy/data-plane.js';
import { HaproxyProcess } from '../haproxy/process.js';
import { HaproxyServerStats } from '../haproxy/server-stats.js';
import type { RouterPorts } from '../router/router-ports.js';

/** A router's data plane as the host holds it: the router's port, and its start and stop. */
export interface HostedDataPlane {
  port: RouterPorts['dataPlane'];
  /** HAProxy's per-server counts by version (the router sees none of that traffic), for the rollout verdicts. */
  stats?: HaproxyServerStats;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The data plane a router gets. The built-in proxy needs nothing; with
 * `router.dataPlane: haproxy` the router starts (or takes over) the HAProxy
 * it owns, tells it of every policy generation it loads, and answers
 * terminals by what HAProxy has applied. `loaded` is the router's loaded
 * policy (asked late: the router is built after this). The router module
 * never imports src/haproxy/: this is the one place the two meet.
 */
export function dataPlaneFor(config: Config, loaded: () => Policy | undefined, log: (line: string) => void): HostedDataPlane {
  if (config.router.dataPlane !== 'haproxy') return { port: undefined, start: async () => undefined, stop: async () => undefined };
  const plane = new HaproxyDataPlane({
    bin: config.router.haproxy.bin,
    settings: {
      dir: `${config.stateDir}/haproxy`,
      listen: config.router.haproxy.listen,
      threads: config.router.haproxy.threads,
      router: config.router.listen,
      versionHeader: config.router.versionHeader,
      serviceHeader: config.router.serviceHeader,
    },
    current: loaded,
    log,
  });
  const stats = new HaproxyServerStats(plane.process.api, () => plane.appliedPolicy());
  return {
    stats,
    port: {
      policyLoaded: () => plane.policyChanged(),
      applied: () => plane.appliedPolicy(),
      status: () => plane.status(),
    },
    start: () => plane.start(),
    stop: async () => {
      stats.stop();
      await plane.stop();
    },
  };
}

/**
 * After the router has stopped: a HAProxy it left running (the router was
 * killed before it could stop it) is stopped too, so `router stop` always
 * ends the data plane. Returns whether one was running.
 */
export async function stopLeftoverDataPlane(config: Config): Promise<boolean> {
  const haproxy = new HaproxyProcess(config.router.haproxy.bin, `${config.stateDir}/haproxy`);
  if ((await haproxy.masterPid()) === undefined) return false;
  await haproxy.stop();
  return true;
}
