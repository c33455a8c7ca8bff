import type { Config } from '../config/schema.js';
import { HaproxyDataPlane } from '../haproxy/data-plane.js';
import { HaproxyProcess } from '../haproxy/process.js';
import type { Router } from '../router/router.js';

/**
 * Gives a started router its data plane. The built-in proxy needs nothing;
 * with `router.dataPlane: haproxy` the router starts (or takes over) the
 * HAProxy it owns, tells it of every policy generation, and shows its state
 * in /v1/status. The router module never imports src/haproxy/: this is the
 * one place the two meet.
 */
export async function attachDataPlane(router: Router, config: Config, log: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  if (config.router.dataPlane !== 'haproxy') return { stop: async () => undefined };
  const source = router.state.watcher;
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
    current: () => source.current(),
    log,
  });
  // Logins, resolves and status go by what HAProxy routes by: a terminal is never sent to a version
  // HAProxy cannot route to yet. The loaded policy feeds HAProxy; the applied one answers terminals.
  router.state.watcher = {
    start: () => source.start(),
    current: () => plane.appliedPolicy() ?? source.current(),
    fileState: () => source.fileState(),
    check: () => source.check(),
    stop: () => source.stop(),
  };
  router.onPolicyLoaded = () => plane.policyChanged();
  router.dataPlaneStatus = () => plane.status();
  await plane.start();
  return { stop: () => plane.stop() };
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
