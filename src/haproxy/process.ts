import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { usageError } from '../core/errors.js';
import { RuntimeApi } from './runtime-api.js';

/**
 * The HAProxy process switchyard owns: started in master-worker mode and
 * daemonized (so it outlives a killed router and keeps serving), found
 * again by its pid file when the router comes back,
 * reloaded seamlessly (SIGUSR2 to the master; the listeners pass to the
 * new worker) and stopped softly (SIGUSR1 lets connections finish).
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(bin: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; output: string; missing: boolean }> {
  const result = await execa(bin, [...args], { timeout: timeoutMs, reject: false, stdin: 'ignore' });
  const missing = result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message ?? ''));
  return { ok: !result.failed, output: `${String(result.stdout ?? '')}${String(result.stderr ?? '')}`.trim(), missing };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class HaproxyProcess {
  readonly api: RuntimeApi;
  readonly configPath: string;
  private readonly pidPath: string;
  private readonly logPath: string;

  constructor(
    private bin: string,
    readonly dir: string,
  ) {
    this.api = new RuntimeApi(`${dir}/admin.sock`);
    this.configPath = `${dir}/haproxy.cfg`;
    this.pidPath = `${dir}/haproxy.pid`;
    this.logPath = `${dir}/haproxy.log`;
  }

  /** Fails with what to install when the binary is missing. */
  async checkBinary(): Promise<string> {
    let result = await run(this.bin, ['-v'], 10_000);
    // Debian puts haproxy in /usr/sbin, which is not on every user's PATH.
    if (result.missing && !this.bin.includes('/')) {
      const sbin = await run(`/usr/sbin/${this.bin}`, ['-v'], 10_000);
      if (!sbin.missing) {
        this.bin = `/usr/sbin/${this.bin}`;
        result = sbin;
      }
    }
    if (result.missing) {
      throw usageError('haproxy_missing', `router.haproxy.bin: "${this.bin}" was not found. Install HAProxy (on Debian: apt-get install haproxy) or set router.haproxy.bin to its path.`);
    }
    if (!result.ok) throw usageError('haproxy_unusable', `router.haproxy.bin: "${this.bin} -v" failed: ${result.output.slice(0, 500)}`);
    return result.output.split('\n')[0] ?? '';
  }

  /** Checks a config with `haproxy -c` so a bad one is reported, never loaded. */
  async validate(path = this.configPath): Promise<void> {
    const result = await run(this.bin, ['-c', '-q', '-f', path], 30_000);
    if (!result.ok) throw new Error(`HAProxy refused ${path}: ${result.output.slice(0, 2000)}`);
  }

  /** The master's pid when it is running. */
  async masterPid(): Promise<number | undefined> {
    const text = await readFile(this.pidPath, 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);
    return Number.isSafeInteger(pid) && pid > 1 && alive(pid) ? pid : undefined;
  }

  /** True when a master is running and its worker answers on the admin socket. */
  async answering(): Promise<boolean> {
    if ((await this.masterPid()) === undefined) return false;
    return this.api.workerPid().then(() => true, () => false);
  }

  /**
   * Starts HAProxy daemonized (-D): the master leaves the router's process
   * tree and session, so neither a Ctrl-C on `router run` nor PM2's tree
   * kill of the router reaches it; the router stops it itself, softly.
   */
  async start(timeoutMs = 15_000): Promise<number> {
    let exited: { code: number | null; signal: NodeJS.Signals | null; error?: string } | undefined;
    // The launcher exits once the master has daemonized; the master is not our child any more.
    const launcher = execa(this.bin, ['-W', '-D', '-f', this.configPath, '-p', this.pidPath], { stdin: 'ignore', stdout: { file: this.logPath, append: true }, stderr: { file: this.logPath, append: true }, reject: false, cleanup: false });
    void launcher.then((r) => {
      const neverRan = r.failed && r.exitCode === undefined && r.signal === undefined;
      exited ??= { code: r.exitCode ?? null, signal: (r.signal ?? null) as NodeJS.Signals | null, ...(neverRan ? { error: `could not be started (${r.shortMessage})` } : {}) };
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // The launcher exits 0 once the master has daemonized; anything else means the start failed.
      if (exited !== undefined && (exited.error !== undefined || exited.code !== 0)) {
        throw new Error(`HAProxy ${exited.error ?? `exited with ${exited.signal ?? `code ${exited.code}`}`} on start: ${await this.logTail()}`);
      }
      const pid = await this.api.workerPid().catch(() => undefined);
      if (pid !== undefined && (await this.masterPid()) !== undefined) return pid;
      await sleep(50);
    }
    throw new Error(`HAProxy did not answer on ${this.api.socketPath} within ${timeoutMs} ms: ${await this.logTail()}`);
  }

  /** Seamless reload: a new worker takes the listeners, the old one finishes its connections. */
  async reload(timeoutMs = 15_000): Promise<number> {
    const master = await this.masterPid();
    if (master === undefined) throw new Error('HAProxy is not running, so it cannot be reloaded');
    const before = await this.api.workerPid();
    process.kill(master, 'SIGUSR2');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pid = await this.api.workerPid().catch(() => undefined);
      if (pid !== undefined && pid !== before) return pid;
      await sleep(50);
    }
    throw new Error(`HAProxy kept worker ${before} ${timeoutMs} ms after a reload: ${await this.logTail()}`);
  }

  /** Soft stop (connections finish) for up to `graceMs`, then SIGTERM, then SIGKILL: well inside PM2's kill timeout for the router (15 s). */
  async stop(graceMs = 4_000): Promise<void> {
    const master = await this.masterPid();
    if (master === undefined) return;
    const steps: [NodeJS.Signals, number][] = [['SIGUSR1', graceMs], ['SIGTERM', 3000], ['SIGKILL', 3000]];
    for (const [signal, wait] of steps) {
      try {
        process.kill(master, signal);
      } catch {
        return;
      }
      const deadline = Date.now() + wait;
      while (Date.now() < deadline) {
        if (!alive(master)) return;
        await sleep(50);
      }
    }
  }

  async logTail(): Promise<string> {
    const text = await readFile(this.logPath, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-8).join(' | ') || '(its log is empty)';
  }
}
