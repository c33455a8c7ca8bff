import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { usageError } from '../core/errors.js';
import type { Fleet } from './fleet.js';

/** How rollouts reach hosts' fleets; FleetSet is the real one, tests may bring a double. */
export interface Fleets {
  /** The host's fleet, or undefined while no PM2 daemon runs there (read-only callers). */
  get(host: string): Promise<Fleet | undefined>;
  /** Like get, but a fleet that cannot be had is an error. */
  require(host: string): Promise<Fleet>;
}

/**
 * The fleets of the hosts a command touches, opened on first use and closed
 * together. This is the one place that chooses an adapter for a host.
 */
export class FleetSet implements Fleets {
  private readonly open = new Map<string, Promise<Fleet | undefined>>();

  constructor(
    private readonly config: Config,
    /** Read-only callers pass false so no PM2 daemon is started just to look. */
    private readonly startDaemon: boolean,
    /** Per ssh call on remote hosts. */
    private readonly sshTimeoutMs?: number,
  ) {}

  async get(host: string): Promise<Fleet | undefined> {
    const cached = this.open.get(host);
    if (cached !== undefined) {
      const fleet = await cached.catch(() => undefined);
      if (fleet === undefined || fleet.broken !== true) return cached;
      // PM2's daemon stopped answering on this connection: reconnect (a daemon restarted since is found again).
      this.open.delete(host);
      await fleet.close().catch(() => undefined);
    }
    return this.connectOnce(host);
  }

  private connectOnce(host: string): Promise<Fleet | undefined> {
    let fleet = this.open.get(host);
    if (fleet === undefined) {
      fleet = this.connect(host);
      this.open.set(host, fleet);
      // No daemon yet: look again next time rather than remember the absence.
      void fleet.then((f) => f === undefined && this.open.delete(host), () => this.open.delete(host));
    }
    return fleet;
  }

  /** Like get, but a fleet that cannot be had is an error. */
  async require(host: string): Promise<Fleet> {
    const fleet = await this.get(host);
    if (fleet === undefined) throw usageError('fleet_unavailable', `No PM2 daemon runs for host ${host}.`);
    return fleet;
  }

  private async connect(host: string): Promise<Fleet | undefined> {
    const hostConfig = this.config.hosts[host];
    if (hostConfig === undefined) {
      throw usageError('unknown_host', `Host ${host} is not in the config's hosts: add it under hosts, or remove it from the service.`);
    }
    if (!hostConfig.local) {
      // pm2 on that host, over ssh; an unreachable host rejects here, naming it.
      // Adapters load on use: a command that touches only local hosts never loads ssh and execa.
      const { RemoteFleet } = await import('./remote-fleet.js');
      return RemoteFleet.open(hostConfig, { startDaemon: this.startDaemon, ...(this.sshTimeoutMs === undefined ? {} : { timeoutMs: this.sshTimeoutMs }) });
    }
    const pm2Home = hostConfig.pm2Home ?? this.config.pm2Home;
    const logDir = join(this.config.stateDir, 'logs');
    const { LocalFleet } = await import('./local-fleet.js');
    return this.startDaemon ? LocalFleet.open(host, pm2Home, logDir) : LocalFleet.openIfRunning(host, pm2Home, logDir);
  }

  async closeAll(): Promise<void> {
    const fleets = await Promise.allSettled(this.open.values());
    await Promise.allSettled(fleets.map((f) => (f.status === 'fulfilled' ? f.value?.close() : undefined)));
    this.open.clear();
  }
}
