import { mkdir, writeFile } from 'node:fs/promises';
import { failedError, usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { MAX_UNIX_SOCKET_PATH_BYTES } from '../config/defaults.js';
import { configText, freshLayout, mapFilesText, type HaproxySettings } from './config-text.js';
import { describePolicy, type Desired } from './desired.js';
import { mapFile, MAP_NAMES } from './layout.js';
import { planChanges } from './plan.js';
import { HaproxyProcess } from './process.js';
import type { DataPlaneStatus } from '../protocol/status-body.js';


export interface HaproxyDataPlaneOptions {
  bin: string;
  settings: HaproxySettings;
  /** The router's live policy. */
  current(): Policy | undefined;
  log(line: string): void;
  /** How often the applier re-checks HAProxy and catches up; default 500 ms. */
  intervalMs?: number;
}

const NO_SERVICES: Desired = { generation: -1, services: new Map(), only: undefined };

/**
 * Keeps a HAProxy it owns in step with the router's policy: each pass
 * reads what HAProxy holds, plans the runtime-API commands that turn it
 * into what the policy wants, and sends them. Nothing is remembered
 * between passes but the generation reached, so a restarted router, a
 * restarted HAProxy or a failed command is put right by the next pass.
 * A reload happens only when the planner says the change cannot be made
 * at run time, and the log says why.
 */
export class HaproxyDataPlane {
  readonly process: HaproxyProcess;
  private applied: number | null = null;
  /** The policy HAProxy routes by, fully applied: logins are answered from it, so none sends a terminal where HAProxy cannot route yet. */
  private appliedPolicyObject: Policy | undefined;
  private error: string | null = null;
  private waiting = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: HaproxyDataPlaneOptions) {
    this.process = new HaproxyProcess(opts.bin, opts.settings.dir);
  }

  async start(): Promise<void> {
    const dir = this.opts.settings.dir;
    if (/[\s'"%\\]/.test(dir)) throw usageError('haproxy_dir', `HAProxy's folder ${dir} holds a space, quote, "%" or "\\", which HAProxy's config cannot carry: move the state folder (state: in the config).`);
    if (Buffer.byteLength(`${dir}/admin.sock`) > MAX_UNIX_SOCKET_PATH_BYTES) {
      throw usageError('haproxy_dir', `HAProxy's admin socket ${dir}/admin.sock is longer than a unix socket path may be (${MAX_UNIX_SOCKET_PATH_BYTES} bytes): use a shorter state folder (state: in the config).`);
    }
    await this.process.checkBinary();
    await mkdir(dir, { recursive: true });
    if (await this.process.answering()) {
      this.opts.log(`HAProxy already running (worker ${await this.process.api.workerPid()}): taking it over and bringing it up to date`);
    } else {
      await this.writeFresh();
      await this.process.validate();
      const pid = await this.process.start().catch((error: Error) => {
        throw failedError('haproxy_start_failed', `HAProxy could not start: ${error.message}`);
      });
      this.opts.log(`HAProxy started (worker ${pid}) on ${this.opts.settings.listen.host}:${this.opts.settings.listen.port}`);
    }
    await this.sync();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 500);
    this.timer.unref();
  }

  /** The last policy HAProxy has fully applied (undefined before the first). */
  appliedPolicy(): Policy | undefined {
    return this.appliedPolicyObject;
  }

  /** Call when the router has loaded a new policy generation. */
  policyChanged(): void {
    void this.sync();
  }

  status(): DataPlaneStatus {
    const current = this.opts.current()?.generation ?? null;
    const behind = current !== null && this.applied !== current;
    const error = this.error ?? (behind ? `HAProxy has applied generation ${this.applied ?? 'none'} of ${current}; catching up` : null);
    return { kind: 'haproxy', generation: this.applied, ok: this.error === null && !behind, error };
  }

  /** Runs a pass now, or once more right after the one under way. */
  sync(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await this.process.stop();
    this.opts.log('HAProxy stopped');
  }

  private tick(): void {
    if (this.stopped || this.running !== undefined) return;
    const caughtUp = this.error === null && this.waiting === 0 && this.applied === (this.opts.current()?.generation ?? this.applied);
    if (!caughtUp) return void this.sync();
    // Caught up: only look whether HAProxy is still there (a pid check, no socket traffic).
    void this.process.masterPid().then((pid) => {
      if (pid === undefined && !this.stopped) void this.sync();
    });
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    const policy = this.opts.current();
    try {
      if (!(await this.process.answering())) {
        this.opts.log(`HAProxy is not answering: restarting it with generation ${policy?.generation ?? 'none'} applied in full`);
        await this.writeFresh();
        await this.process.validate();
        this.opts.log(`HAProxy restarted (worker ${await this.process.start()})`);
      }
      if (policy === undefined) return;
      const desired = describePolicy(policy);
      const mapPath = (name: (typeof MAP_NAMES)[number]) => mapFile(this.opts.settings.dir, name);
      let plan = planChanges(desired, await this.process.api.observe(this.opts.settings.dir), mapPath);
      if (plan.reload !== undefined) {
        this.opts.log(`HAProxy reload (seamless) for generation ${policy.generation}: ${plan.reload}`);
        await this.writeFresh();
        await this.process.validate();
        this.opts.log(`HAProxy reloaded (worker ${await this.process.reload()})`);
        plan = planChanges(desired, await this.process.api.observe(this.opts.settings.dir), mapPath);
        if (plan.reload !== undefined) throw new Error(`after a reload HAProxy still cannot apply generation ${policy.generation}: ${plan.reload}`);
      }
      for (const command of plan.commands) await this.process.api.run(command);
      if (this.applied !== policy.generation) this.opts.log(`HAProxy applied generation ${policy.generation} (${plan.commands.length} runtime commands, no reload)`);
      this.applied = policy.generation;
      this.appliedPolicyObject = policy;
      this.waiting = plan.waiting;
      if (this.error !== null) this.opts.log('HAProxy is in step with the policy again');
      this.error = null;
    } catch (error) {
      const message = `HAProxy could not apply generation ${policy?.generation ?? 'none'}: ${(error as Error).message}; retrying`;
      if (message !== this.error) this.opts.log(message);
      this.error = message;
    }
  }

  /** Writes the config and maps for the current policy, as a fresh HAProxy should start. */
  private async writeFresh(): Promise<void> {
    const policy = this.opts.current();
    const desired = policy === undefined ? NO_SERVICES : describePolicy(policy);
    const layout = freshLayout(desired);
    const maps = mapFilesText(desired, layout);
    const { dir } = this.opts.settings;
    for (const name of MAP_NAMES) await writeFile(mapFile(dir, name), maps[name]);
    await writeFile(this.process.configPath, configText(this.opts.settings, desired, layout));
  }
}
