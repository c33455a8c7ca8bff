import { posix } from 'node:path';
import type { HostConfig } from '../config/schema.js';
import { failedError, isSwitchyardError, usageError } from '../core/errors.js';
import { parseProcessId, SERVICE_NAME } from '../core/names.js';
import { isValidVersion } from '../core/version.js';
import type { Fleet, FleetProcess, ProbeResult, ProcessSpec } from './fleet.js';
import { parseJlist } from './pm2-jlist.js';
import { pm2StartOptions } from './pm2-start-options.js';
import { HELLO, LOG_FOLLOW, LOG_TAIL, NAME_LISTED_EXIT, PM2_DELETE_BY_NUMBER, PM2_JLIST, PM2_JLIST_IF_RUNNING, PM2_START, PROBE, PROBE_NODE } from './remote-scripts.js';
import { nameInUse } from './fleet-errors.js';
import { lastLines, runSsh, streamSsh, type SshCall } from './ssh.js';
import { syncFolder, type SyncMethod } from './remote-sync.js';

/** What the first call learnt about the host. */
interface HostFacts {
  home: string;
  pm2Home: string;
  daemon: boolean;
  pm2: boolean;
  rsync: boolean;
}

export interface RemoteFleetOptions {
  /** False for read-only callers: no fleet (undefined) when no PM2 daemon runs there, so none is started just to look. */
  startDaemon: boolean;
  /** Per ssh call; the kill timeout of a stop is added for removals. */
  timeoutMs?: number;
}

/** At most this many candidate ports are probed in one call (the command line stays short). */
const MAX_PROBED_PORTS = 512;

function parseFacts(stdout: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) facts[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return facts;
}

/**
 * Every value that reaches a remote command line was checked at the edge;
 * process names are checked again here, so a name built some other way is
 * refused before any ssh call.
 */
export function checkRemoteProcessId(id: string): string {
  const parsed = parseProcessId(id);
  if (parsed === null || !SERVICE_NAME.test(parsed.service) || !isValidVersion(parsed.version)) {
    throw usageError('invalid_process_id', `"${id.slice(0, 80)}" is not a process name switchyard makes (<service>@<version>#<index>): refused before reaching a remote host.`);
  }
  return id;
}

/**
 * A remote host's processes, through the pm2 command line run over ssh with
 * the host's PM2_HOME, node and pm2 from the config. No connection is kept:
 * each operation is one ssh call.
 */
export class RemoteFleet implements Fleet {
  readonly remote = true;

  private constructor(
    private readonly config: HostConfig,
    private readonly facts: HostFacts,
    private readonly timeoutMs: number,
    /** False for read-only callers (the router, status): nothing they do may start a PM2 daemon there. */
    private readonly startDaemon: boolean,
  ) {}

  get host(): string {
    return this.config.name;
  }

  /** Reaches the host once (an unreachable host fails here, naming it) and learns its home and PM2_HOME. */
  static async open(config: HostConfig, opts: RemoteFleetOptions): Promise<RemoteFleet | undefined> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const pm2 = config.pm2Path ?? 'pm2';
    const { stdout } = await runSsh(config, ['sh', '-c', HELLO, 'sh', config.pm2Home ?? '', config.nodePath ?? '', pm2], { what: 'look at the host', timeoutMs });
    const raw = parseFacts(stdout);
    if (raw.home === undefined || raw.pm2home === undefined) {
      throw failedError('remote_shell_unexpected', `host ${config.name} answered ssh but not as a POSIX shell should (${lastLines(stdout) || 'no output'})`, { host: config.name });
    }
    const facts: HostFacts = { home: raw.home, pm2Home: raw.pm2home, daemon: raw.daemon === '1', pm2: raw.pm2 === '1', rsync: raw.rsync === '1' };
    if (!facts.pm2) {
      throw failedError('pm2_missing', `pm2 is not found on host ${config.name} (looked for "${pm2}"): install it there (npm install -g pm2) or set hosts.${config.name}.pm2Path`, { host: config.name });
    }
    if (!opts.startDaemon && !facts.daemon) return undefined;
    return new RemoteFleet(config, facts, timeoutMs, opts.startDaemon);
  }

  /** Relative paths on a remote host start at the ssh user's home; "~" is that home. */
  resolvePath(path: string): string {
    if (path === '~') return this.facts.home;
    if (path.startsWith('~/')) return posix.join(this.facts.home, path.slice(2));
    return posix.isAbsolute(path) ? posix.normalize(path) : posix.join(this.facts.home, path);
  }

  private logFile(id: string): string {
    return posix.join(this.facts.pm2Home, 'logs', `${id.replace(/[^A-Za-z0-9_.@-]/g, '_')}.log`);
  }

  private pm2(script: string, args: string[], call: SshCall) {
    const words = ['sh', '-c', script, 'sh', this.facts.pm2Home, this.config.nodePath ?? '', this.config.pm2Path ?? 'pm2', ...args];
    return runSsh(this.config, words, { timeoutMs: this.timeoutMs, ...call });
  }

  async probe(script: string, ports: number[], want: number): Promise<ProbeResult> {
    const candidates = ports.slice(0, MAX_PROBED_PORTS).map((p) => String(Math.trunc(p)));
    const { stdout } = await runSsh(this.config, ['sh', '-c', PROBE, 'sh', PROBE_NODE, script, this.config.nodePath ?? '', String(want), ...candidates], {
      what: 'check the script and free ports',
      timeoutMs: this.timeoutMs,
    });
    const facts = parseFacts(stdout);
    if (facts.ports === undefined) {
      throw failedError('remote_probe_failed', `could not check free ports on host ${this.host}: node printed nothing usable (is node installed there, or hosts.${this.host}.nodePath set?)`, { host: this.host });
    }
    return { scriptFound: facts.script === '1', freePorts: facts.ports === '' ? [] : facts.ports.split(',').map(Number) };
  }

  copyFolder(localDir: string, dir: string): Promise<SyncMethod> {
    return syncFolder(this.config, localDir, dir, { remoteRsync: this.facts.rsync, timeoutMs: Math.max(this.timeoutMs, 300_000) });
  }

  async start(spec: ProcessSpec): Promise<void> {
    checkRemoteProcessId(spec.id);
    const log = this.logFile(spec.id);
    const app = {
      ...pm2StartOptions({ name: spec.id, script: spec.script, args: spec.args, cwd: spec.cwd, env: spec.env, killTimeoutMs: spec.killTimeoutMs, outFile: log, errorFile: log }),
      ...(this.config.nodePath === undefined ? {} : { interpreter: this.config.nodePath }),
    };
    const result = await this.pm2(PM2_START, [spec.id], { what: `start ${spec.id} with pm2`, input: JSON.stringify({ apps: [app] }), allowFailure: true });
    if (result.exitCode === NAME_LISTED_EXIT) throw nameInUse(spec.id, this.host);
    if (result.exitCode !== 0) throw failedError('remote_command_failed', `could not start ${spec.id} with pm2 on host ${this.host} (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout) || 'no output'}`, { host: this.host });
  }

  /**
   * By PM2's number, looked up by name first: PM2 reads a name holding
   * ".json", ".yml"… as a file to load. Done only once `jlist` no longer
   * lists the name; no output of pm2 is taken for success.
   */
  async remove(id: string): Promise<void> {
    checkRemoteProcessId(id);
    const listed = await this.listOrNone();
    const known = listed?.find((p) => p.id === id);
    if (known === undefined) return;
    if (known.pmId === undefined) throw failedError('remote_command_failed', `pm2 jlist on host ${this.host} lists ${id} without its pm_id, so it cannot be stopped safely by number: check PM2 there by hand.`, { host: this.host });
    const result = await this.pm2(PM2_DELETE_BY_NUMBER, [String(known.pmId)], { what: `stop ${id} with pm2`, allowFailure: true, timeoutMs: this.timeoutMs + 60_000 });
    const after = await this.listOrNone();
    if (after?.some((p) => p.id === id) !== true) return;
    throw failedError('remote_command_failed', `could not stop ${id} with pm2 on host ${this.host}: PM2 still lists it (exit ${result.exitCode}: ${lastLines(result.stderr || result.stdout) || 'no output'})`, { host: this.host });
  }

  /** PM2's list, or undefined when no daemon runs there (then nothing of ours runs either). */
  private async listOrNone(): Promise<FleetProcess[] | undefined> {
    try {
      return await this.list();
    } catch (error) {
      if (isSwitchyardError(error) && error.code === 'no_daemon') return undefined;
      throw error;
    }
  }

  async list(): Promise<FleetProcess[]> {
    if (this.startDaemon) return parseJlist((await this.pm2(PM2_JLIST, [], { what: "list PM2's processes" })).stdout, this.host);
    // `pm2 jlist` starts a daemon when none runs: a read-only look asks first, and a host without one is unknown.
    const result = await this.pm2(PM2_JLIST_IF_RUNNING, [], { what: "list PM2's processes", allowFailure: true });
    if (result.exitCode === 3) throw failedError('no_daemon', 'no PM2 daemon running', { host: this.host });
    if (result.exitCode !== 0) throw failedError('remote_command_failed', `could not list PM2's processes on host ${this.host} (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout) || 'no output'}`, { host: this.host });
    return parseJlist(result.stdout, this.host);
  }

  async logTail(id: string, lines: number): Promise<string> {
    checkRemoteProcessId(id);
    const { stdout } = await runSsh(this.config, ['sh', '-c', LOG_TAIL, 'sh', String(Math.max(1, Math.trunc(lines))), this.logFile(id)], {
      what: `read the log of ${id}`,
      timeoutMs: this.timeoutMs,
    });
    return stdout.trimEnd();
  }

  async followLog(id: string, lines: number, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
    checkRemoteProcessId(id);
    await streamSsh(this.config, ['sh', '-c', LOG_FOLLOW, 'sh', String(Math.max(0, Math.trunc(lines))), this.logFile(id)], onLine, signal);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}
