import { mkdir } from 'node:fs/promises';
import { failedError, usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { MAX_UNIX_SOCKET_PATH_BYTES } from '../config/defaults.js';
import type { DataPlaneStatus } from '../protocol/status-body.js';
import { freshLayout, rulesFingerprint, type HaproxySettings } from './config-text.js';
import { describePolicy, type Desired, type IsDown } from './desired.js';
import { describeDrift, DriftBook } from './drift.js';
import { ConfigFiles } from './files.js';
import { mapFile, type MapName } from './layout.js';
import { planChanges, type Observed, type Plan } from './plan.js';
import { HaproxyProcess } from './process.js';

export interface HaproxyDataPlaneOptions {
  bin: string;
  settings: HaproxySettings;
  /** The router's live policy. */
  current(): Policy | undefined;
  /** Processes the router found down in PM2: HAProxy sends them nothing while another of their version lives. */
  down?: IsDown;
  log(line: string): void;
  /** How often the applier reads HAProxy back and puts it right; default 500 ms. */
  intervalMs?: number;
}

const NO_SERVICES: Desired = { generation: -1, services: new Map(), only: undefined };
const NONE_DOWN: IsDown = () => false;

/** The generation and the processes down: what a pass makes HAProxy hold. */
function wishOf(policy: Policy, down: IsDown): string {
  const ids = Object.values(policy.services).flatMap((s) => s.processes.filter((p) => down(p.id)).map((p) => p.id));
  return `${policy.generation} ${ids.sort().join(' ')}`;
}

/**
 * Keeps a HAProxy it owns in step with the router's policy. Every pass
 * (on each new generation, and every interval) reads what HAProxy holds,
 * plans the runtime-API commands that turn it into what the policy wants,
 * sends them, and keeps the config and map files on disk in step, so a
 * reload by anyone comes back right. A difference found where the last
 * pass left HAProxy in step is drift (someone else changed it): counted,
 * described in status and repaired by the same pass. A reload happens
 * only when the change cannot be made at run time or HAProxy runs other
 * rules than switchyard writes (an upgrade), and the log says why.
 * The router's exit leaves HAProxy serving (release); only `router stop`
 * and `down` stop it.
 */
export class HaproxyDataPlane {
  readonly process: HaproxyProcess;
  private readonly files: ConfigFiles;
  private readonly drift = new DriftBook();
  private readonly rules: string;
  private readonly down: IsDown;
  private applied: number | null = null;
  /** The policy HAProxy routes by, fully applied: logins are answered from it, so none sends a terminal where HAProxy cannot route yet. */
  private appliedPolicyObject: Policy | undefined;
  /** What the last complete pass left HAProxy holding (generation, processes down): the same wish found unmet again is drift. */
  private inStepWith: string | undefined;
  /** The worker the last pass saw, or the one this router started or reloaded. */
  private worker: number | undefined;
  private error: string | null = null;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  /** Passes wait for start(): one run before it would launch a second HAProxy beside the one start() launches. */
  private started = false;

  constructor(private readonly opts: HaproxyDataPlaneOptions) {
    this.process = new HaproxyProcess(opts.bin, opts.settings.dir);
    this.files = new ConfigFiles(this.process, opts.settings);
    this.rules = rulesFingerprint(opts.settings);
    this.down = opts.down ?? NONE_DOWN;
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
      const pid = await this.launch().catch((error: Error) => {
        throw failedError('haproxy_start_failed', `HAProxy could not start: ${error.message}`);
      });
      this.opts.log(`HAProxy started (worker ${pid}) on ${this.opts.settings.listen.host}:${this.opts.settings.listen.port}`);
    }
    this.started = true;
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
    if (this.started) void this.sync();
  }

  status(): DataPlaneStatus {
    const current = this.opts.current()?.generation ?? null;
    const behind = current !== null && this.applied !== current;
    const drift = this.drift.status();
    const error =
      this.error ??
      (behind ? `HAProxy has applied generation ${this.applied ?? 'none'} of ${current}; catching up` : null) ??
      (this.drift.open ? `HAProxy is out of step with generation ${this.applied} (${drift.last!.what}); repairing` : null) ??
      (this.files.failure === null ? null : `HAProxy's config and maps on disk could not be written, so a reload would bring back an older state: ${this.files.failure}`);
    return { kind: 'haproxy', generation: this.applied, ok: error === null, error, drift };
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
        } while (this.again && !this.released);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * Stops steering HAProxy and leaves it serving the last state applied:
   * a router that restarts, crashes or is upgraded must not cut a session.
   * The next router takes it over; `router stop` and `down` stop it.
   */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    this.opts.log(`leaving HAProxy running (worker ${this.worker ?? 'unknown'}, generation ${this.applied ?? 'none'}) for the next router to take over; \`switchyard router stop\` stops it`);
  }

  private tick(): void {
    if (!this.released && this.running === undefined) void this.sync();
  }

  private readonly mapPath = (name: MapName) => mapFile(this.opts.settings.dir, name);

  /** Writes a fresh config and maps for the current policy and starts HAProxy with them; the worker's pid. */
  private async launch(): Promise<number> {
    const policy = this.opts.current();
    const desired = policy === undefined ? NO_SERVICES : describePolicy(policy, this.down);
    await this.files.write(desired, freshLayout(desired), { settleMs: 0 });
    this.worker = await this.process.start();
    return this.worker;
  }

  /**
   * What HAProxy holds, the plan from it, and what someone else changed: a
   * worker this router did not start (a reload), files edited on disk,
   * rules other than the ones it writes (then a reload is due).
   */
  private look(desired: Desired, observed: Observed): { plan: Plan; notes: string[]; reload: string | undefined } {
    const edited = this.files.edited();
    const plan = planChanges(desired, observed, this.mapPath);
    const notes: string[] = [];
    if (this.worker !== undefined && observed.worker !== this.worker) notes.push(`HAProxy was reloaded outside switchyard (worker ${this.worker} → ${observed.worker})`);
    if (edited.length > 0) notes.push(`${edited.join(', ')} changed on disk by someone else`);
    this.worker = observed.worker;
    const otherRules = observed.rules === this.rules ? undefined : `HAProxy runs ${observed.rules === undefined ? 'rules switchyard did not write' : `rules ${observed.rules}`}, not the rules ${this.rules} this switchyard writes for router.haproxy`;
    if (otherRules !== undefined) notes.push(otherRules);
    // Someone else's config may be what HAProxy runs now: a seamless reload puts switchyard's back.
    return { plan, notes, reload: otherRules ?? (edited.includes('haproxy.cfg') ? 'haproxy.cfg was changed on disk by someone else' : plan.reload) };
  }

  private async pass(): Promise<void> {
    if (this.released) return;
    const policy = this.opts.current();
    try {
      // Most passes find HAProxy answering: its pid is looked at only when its socket does not.
      const observed = await this.process.api.observe(this.opts.settings.dir).catch(() => undefined);
      if (observed === undefined && !(await this.process.answering())) {
        this.opts.log(`HAProxy is not answering: restarting it with generation ${policy?.generation ?? 'none'} applied in full`);
        this.opts.log(`HAProxy restarted (worker ${await this.launch()})`);
        // A fresh HAProxy is finished by this pass (drain states), which is not someone else's change.
        this.inStepWith = undefined;
      }
      if (policy === undefined) return;
      const desired = describePolicy(policy, this.down);
      const wish = wishOf(policy, this.down);
      // Left in step with this very wish by the last pass: whatever differs now was changed by someone else.
      const checking = this.inStepWith === wish;
      const { notes, reload, ...looked } = this.look(desired, observed ?? (await this.process.api.observe(this.opts.settings.dir)));
      let plan = looked.plan;
      const what = checking ? describeDrift(notes, plan.commands) : undefined;
      if (what !== undefined && !this.drift.open) this.opts.log(`HAProxy drift found (generation ${policy.generation}): ${what}; repairing`);
      if (what !== undefined) this.drift.foundNow(what, new Date());
      if (reload !== undefined) {
        this.opts.log(`HAProxy reload (seamless) for generation ${policy.generation}: ${reload}`);
        await this.files.write(desired, freshLayout(desired), { settleMs: 0 });
        this.worker = await this.process.reload();
        this.opts.log(`HAProxy reloaded (worker ${this.worker})`);
        plan = planChanges(desired, await this.process.api.observe(this.opts.settings.dir), this.mapPath);
        if (plan.reload !== undefined) throw new Error(`after a reload HAProxy still cannot apply generation ${policy.generation}: ${plan.reload}`);
      }
      for (const command of plan.commands) await this.process.api.run(command);
      // Routed already; the files follow in the background (a failure shows in status), written only when what they hold changes.
      const held = `${wish}|${JSON.stringify([...plan.layout.slots, ...plan.layout.bindings])}`;
      this.files.write(desired, plan.layout, { key: held }).catch(() => undefined);
      if (this.applied !== policy.generation) this.opts.log(`HAProxy applied generation ${policy.generation} (${plan.commands.length} runtime commands${reload === undefined ? ', no reload' : ''})`);
      this.applied = policy.generation;
      this.appliedPolicyObject = policy;
      this.inStepWith = wish;
      if (this.drift.repairedNow(new Date())) this.opts.log(`HAProxy drift repaired: in step with generation ${policy.generation} again`);
      if (this.error !== null) this.opts.log('HAProxy is in step with the policy again');
      this.error = null;
    } catch (error) {
      const message = `HAProxy could not apply generation ${policy?.generation ?? 'none'}: ${(error as Error).message}; retrying`;
      if (message !== this.error) this.opts.log(message);
      this.error = message;
    }
  }
}
