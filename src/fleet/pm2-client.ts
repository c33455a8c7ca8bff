import { pm2StartOptions, type Pm2App } from './pm2-start-options.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { failedError } from '../core/errors.js';

export type { Pm2App } from './pm2-start-options.js';

/** PM2's view of one process, reduced to what switchyard shows. */
export interface Pm2Process {
  name: string;
  pmId: number;
  pid: number;
  status: string;
  cpu: number;
  memory: number;
  uptimeMs: number | null;
  restarts: number;
  outFile: string | undefined;
  errorFile: string | undefined;
  env: Record<string, string>;
}

type Callback<T> = (error: Error | null, value: T) => void;
/** The parts of pm2's callback API switchyard uses. */
interface Pm2Api {
  connect(cb: Callback<unknown>): void;
  disconnect(cb?: () => void): void;
  start(opts: Record<string, unknown>, cb: Callback<unknown>): void;
  stop(name: string, cb: Callback<unknown>): void;
  delete(name: string, cb: Callback<unknown>): void;
  list(cb: Callback<Array<Record<string, any>>>): void;
  killDaemon(cb: Callback<unknown>): void;
}

/** How long any one call to PM2's daemon may take before it is reported as not answering. */
export const PM2_CALL_TIMEOUT_MS = 15_000;

/**
 * One callback call of pm2's API as a promise, with a deadline: a daemon
 * that died mid-call never answers, and pm2's socket layer would wait for
 * it forever. `onTimeout` marks the connection broken.
 */
function promised<T>(call: (cb: Callback<T>) => void, what: string, pm2Home: string, onTimeout?: () => void, timeoutMs = PM2_CALL_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(failedError('pm2_timeout', `PM2 did not answer within ${Math.round(timeoutMs / 1000)}s when asked to ${what}: its daemon (PM2_HOME ${pm2Home}) may have died or hung. Check it with \`PM2_HOME=${pm2Home} npx pm2 ls\`, then run the command again.`, { pm2Home }));
    }, timeoutMs);
    timer.unref();
    call((error, value) => {
      clearTimeout(timer);
      if (error) reject(failedError('pm2_failed', `PM2 could not ${what}: ${error.message ?? String(error)}`));
      else resolve(value);
    });
  });
}

/** Whether a PM2 daemon is running for this PM2_HOME (without starting one). */
export function pm2DaemonRunning(pm2Home: string): boolean {
  const pidFile = join(pm2Home, 'pm2.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the daemon for this PM2_HOME, when one runs. */
export function pm2DaemonPid(pm2Home: string): number | undefined {
  if (!pm2DaemonRunning(pm2Home)) return undefined;
  return Number(readFileSync(join(pm2Home, 'pm2.pid'), 'utf8').trim());
}

export function toProcess(raw: Record<string, any>): Pm2Process {
  const env = (raw.pm2_env ?? {}) as Record<string, any>;
  const status = String(env.status ?? 'unknown');
  return {
    name: String(raw.name),
    pmId: Number(raw.pm_id),
    pid: Number(raw.pid ?? 0),
    status,
    cpu: Number(raw.monit?.cpu ?? 0),
    memory: Number(raw.monit?.memory ?? 0),
    uptimeMs: status === 'online' && typeof env.pm_uptime === 'number' ? Date.now() - env.pm_uptime : null,
    restarts: Number(env.restart_time ?? 0),
    outFile: env.pm_out_log_path,
    errorFile: env.pm_err_log_path,
    env: Object.fromEntries(Object.entries((env.env ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
  };
}

/**
 * One connection to the PM2 daemon of one PM2_HOME, through pm2's
 * programmatic API, wrapped into promises once here. PM2_HOME is set before
 * pm2 is first imported (pm2 reads it at import and creates the folder), and
 * each client is a pm2 instance bound to its own home.
 */
export class Pm2Client {
  /** Set once a call timed out: the daemon is gone or hung, and this connection is not to be reused. */
  broken = false;

  private constructor(
    readonly pm2Home: string,
    private readonly api: Pm2Api,
  ) {}

  private call<T>(fn: (cb: Callback<T>) => void, what: string, timeoutMs?: number): Promise<T> {
    if (this.broken) {
      return Promise.reject(failedError('pm2_unavailable', `PM2 (PM2_HOME ${this.pm2Home}) stopped answering earlier in this command, so it was not asked to ${what}: check its daemon, then run the command again.`, { pm2Home: this.pm2Home }));
    }
    return promised(fn, what, this.pm2Home, () => {
      this.broken = true;
    }, timeoutMs);
  }

  static async connect(pm2Home: string): Promise<Pm2Client> {
    // pm2 reads PM2_HOME at import, and when it spawns its daemon the caller's
    // environment wins over the home it was given: a different PM2_HOME in the
    // environment would start the daemon elsewhere and leave us waiting on the
    // wrong sockets. The config's home is the one that counts.
    process.env.PM2_HOME = pm2Home;
    const pm2 = (await import('pm2')).default as unknown as { custom: new (opts: Record<string, unknown>) => Pm2Api };
    const api = new pm2.custom({ pm2_home: pm2Home });
    await promised((cb) => api.connect(cb), `start or reach its daemon in ${pm2Home}`, pm2Home);
    return new Pm2Client(pm2Home, api);
  }

  async start(app: Pm2App): Promise<void> {
    await this.call((cb) => this.api.start(pm2StartOptions(app), cb), `start ${app.name}`);
  }

  async stop(name: string): Promise<void> {
    await this.call((cb) => this.api.stop(name, cb), `stop ${name}`);
  }

  /** By PM2's number where a name could read as a file (see LocalFleet.remove); the router's own names are safe. */
  async delete(nameOrId: string | number): Promise<void> {
    await this.call((cb) => this.api.delete(nameOrId as string, cb), `delete ${nameOrId}`);
  }

  async list(): Promise<Pm2Process[]> {
    const raw = await this.call<Array<Record<string, any>>>((cb) => this.api.list(cb), 'list its processes');
    return raw.map(toProcess);
  }

  async describe(name: string): Promise<Pm2Process | undefined> {
    return (await this.list()).find((p) => p.name === name);
  }

  /** Leaves the daemon running; the CLI's ordinary way out. */
  disconnect(): void {
    this.api.disconnect();
  }

  /**
   * Stops the daemon. Afterwards pm2's socket layer keeps a reconnect timer
   * alive, so a CLI that calls this must end its own process once its output
   * is flushed.
   */
  async killDaemon(): Promise<void> {
    await this.call((cb) => this.api.killDaemon(cb), 'stop its daemon');
  }
}
