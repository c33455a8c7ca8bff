import { existsSync } from 'node:fs';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Fleet, FleetProcess, ProbeResult, ProcessSpec } from './fleet.js';
import { Pm2Client, pm2DaemonRunning } from './pm2-client.js';
import { followFile } from './log-follow.js';
import { canBind } from './ports.js';
import { nameInUse, stillListed } from './fleet-errors.js';

/** The last lines of a local log file ('' when there is none). */
export async function tailOf(path: string | undefined, lines: number): Promise<string> {
  if (path === undefined) return '';
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Where PM2 writes a local process's output (kept after the daemon stops, so logs can still be read). */
export function localLogFile(logDir: string, id: string): string {
  return join(logDir, `${id.replace(/[^A-Za-z0-9_.@-]/g, '_')}.log`);
}

/** The calls LocalFleet makes of a PM2 connection (Pm2Client; the control-plane model brings a double of PM2 itself). */
export type Pm2Connection = Pick<Pm2Client, 'start' | 'describe' | 'delete' | 'list' | 'disconnect' | 'broken'>;

/** This machine's processes, through PM2's API under the config's PM2_HOME. */
export class LocalFleet implements Fleet {
  readonly remote = false;

  private constructor(
    readonly host: string,
    private readonly pm2: Pm2Connection,
    private readonly logDir: string,
  ) {}

  /** Over a PM2 connection made elsewhere (the model test's double of PM2). */
  static over(host: string, pm2: Pm2Connection, logDir: string): LocalFleet {
    return new LocalFleet(host, pm2, logDir);
  }

  /** Connects, starting the PM2 daemon if none runs. */
  static async open(host: string, pm2Home: string, logDir: string): Promise<LocalFleet> {
    await mkdir(logDir, { recursive: true });
    return new LocalFleet(host, await Pm2Client.connect(pm2Home), logDir);
  }

  /** Connects only when a daemon already runs: read-only commands never start one. */
  static async openIfRunning(host: string, pm2Home: string, logDir: string): Promise<LocalFleet | undefined> {
    if (!pm2DaemonRunning(pm2Home)) return undefined;
    return LocalFleet.open(host, pm2Home, logDir);
  }

  get broken(): boolean {
    return this.pm2.broken;
  }

  logFile(id: string): string {
    return localLogFile(this.logDir, id);
  }

  resolvePath(path: string, configDir: string): string {
    return isAbsolute(path) ? path : resolve(configDir, path);
  }

  async probe(script: string, ports: number[], want: number): Promise<ProbeResult> {
    const freePorts: number[] = [];
    for (const port of ports) {
      if (freePorts.length >= want) break;
      if (await canBind(port)) freePorts.push(port);
    }
    return { scriptFound: existsSync(script), freePorts };
  }

  async copyFolder(localDir: string, dir: string): Promise<'copy' | 'none'> {
    if (resolve(localDir) === resolve(dir)) return 'none';
    await cp(localDir, dir, { recursive: true });
    return 'copy';
  }

  async start(spec: ProcessSpec): Promise<void> {
    if ((await this.pm2.describe(spec.id)) !== undefined) throw nameInUse(spec.id, this.host);
    const log = this.logFile(spec.id);
    await this.pm2.start({
      name: spec.id,
      script: spec.script,
      args: spec.args,
      cwd: spec.cwd,
      env: spec.env,
      killTimeoutMs: spec.killTimeoutMs,
      outFile: log,
      errorFile: log,
    });
  }

  async remove(id: string): Promise<void> {
    const known = await this.pm2.describe(id);
    if (known === undefined) return;
    // By PM2's number: given a name, PM2 treats one holding ".json", ".yml"… as a file to read.
    await this.pm2.delete(known.pmId);
    if ((await this.pm2.describe(id)) !== undefined) throw stillListed(id, this.host);
  }

  async list(): Promise<FleetProcess[]> {
    return (await this.pm2.list()).map((p) => ({
      id: p.name,
      pmId: p.pmId,
      pid: p.pid,
      status: p.status,
      cpu: p.cpu,
      memory: p.memory,
      uptimeMs: p.uptimeMs,
      restarts: p.restarts,
    }));
  }

  async logTail(id: string, lines: number): Promise<string> {
    return tailOf(this.logFile(id), lines);
  }

  followLog(id: string, lines: number, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
    return followFile(this.logFile(id), lines, onLine, signal);
  }

  async close(): Promise<void> {
    this.pm2.disconnect();
  }
}
