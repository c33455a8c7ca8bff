import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Policy } from '../core/policy-schema.js';
import { HaproxyDataPlane } from '../haproxy/data-plane.js';
import { HaproxyProcess } from '../haproxy/process.js';
import type { DataPlaneStatus } from '../protocol/status-body.js';
import { HaproxyServerStats } from '../haproxy/server-stats.js';
import type { RouterPorts } from '../router/router-ports.js';

/** A router's data plane as the host holds it: the router's port, and its start and release. */
export interface HostedDataPlane {
  port: RouterPorts['dataPlane'];
  /** HAProxy's per-server counts by version (the router sees none of that traffic), for the rollout verdicts. */
  stats?: HaproxyServerStats;
  /** Starts (or takes over) the data plane; its metrics go on the router's registry. */
  start(registry: Registry): Promise<void>;
  /** The router is going away (stop, restart, upgrade): stop steering, leave the data plane serving. */
  release(): Promise<void>;
}

export interface DataPlaneInput {
  config: Config;
  /** The router's loaded policy (asked late: the router is built after this). */
  loaded(): Policy | undefined;
  /** Processes the reconcile loop found missing or down in PM2. */
  down(id: string): boolean;
  log(line: string): void;
}

/** The data plane's own figures on the router's /metrics, read from its status when scraped. */
function exportMetrics(registry: Registry, status: () => DataPlaneStatus): void {
  const registers = [registry];
  const drift = () => status().drift ?? { found: 0, repaired: 0, last: null };
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({ name, help, registers, collect() {
      this.reset();
      this.inc(value());
    } });
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({ name, help, registers, collect() {
      this.set(value());
    } });
  counter('switchyard_dataplane_drift_found_total', 'Times HAProxy was found out of step with what the router had applied (a reload or a runtime change by someone else)', () => drift().found);
  counter('switchyard_dataplane_drift_repaired_total', 'Times HAProxy was brought back in step after drift', () => drift().repaired);
  gauge('switchyard_dataplane_in_step', '1 while HAProxy holds the policy the router serves; 0 while it catches up, refuses a command, has drifted or its files could not be written', () => (status().ok ? 1 : 0));
  gauge('switchyard_dataplane_generation', 'Policy generation HAProxy has fully applied (-1 before the first)', () => status().generation ?? -1);
}

/**
 * The data plane a router gets. The built-in proxy needs nothing; with
 * `router.dataPlane: haproxy` the router starts (or takes over) the HAProxy
 * it owns, tells it of every policy generation it loads and of the
 * processes found down, and answers terminals by what HAProxy has
 * applied. The router module never imports src/haproxy/: this is the one
 * place the two meet.
 */
export function dataPlaneFor(input: DataPlaneInput): HostedDataPlane {
  const { config } = input;
  if (config.router.dataPlane !== 'haproxy') return { port: undefined, start: async () => undefined, release: async () => undefined };
  const h = config.router.haproxy;
  const plane = new HaproxyDataPlane({
    bin: h.bin,
    settings: {
      dir: haproxyDir(config),
      listen: h.listen,
      threads: h.threads,
      router: config.router.listen,
      versionHeader: config.router.versionHeader,
      serviceHeader: config.router.serviceHeader,
      forwardFor: h.forwardFor === true,
    },
    current: input.loaded,
    down: input.down,
    log: input.log,
  });
  const stats = new HaproxyServerStats(plane.process.api, () => plane.appliedPolicy());
  return {
    stats,
    port: {
      policyLoaded: () => plane.policyChanged(),
      applied: () => plane.appliedPolicy(),
      status: () => plane.status(),
    },
    async start(registry) {
      exportMetrics(registry, () => plane.status());
      await plane.start();
    },
    release: async () => {
      stats.stop();
      await plane.release();
    },
  };
}

function haproxyDir(config: Config): string {
  return `${config.stateDir}/haproxy`;
}

/**
 * For `router stop` and `down`, after the router has stopped: a router's
 * exit leaves its HAProxy serving (so a restart or an upgrade cuts no
 * session), so stopping the data plane is theirs to do. Returns whether
 * one was running.
 */
export async function stopLeftoverDataPlane(config: Config): Promise<boolean> {
  const haproxy = new HaproxyProcess(config.router.haproxy.bin, haproxyDir(config));
  if ((await haproxy.masterPid()) === undefined) return false;
  await haproxy.stop();
  return true;
}
