import { createServer, type Server } from 'node:net';
import type { Pm2App, Pm2Process } from '../../src/fleet/pm2-client.js';
import type { Pm2Connection } from '../../src/fleet/local-fleet.js';
import { pm2StartOptions } from '../../src/fleet/pm2-start-options.js';

/**
 * A double of PM2's daemon, under the real LocalFleet adapter, for the
 * control plane's model tests. It does what PM2 does where switchyard has
 * been bitten:
 *
 * - `start` of a name it already lists restarts that process (new pid, its
 *   connections dropped), which is counted: nobody may ever cause one;
 * - `delete` given a name that holds ".json", ".yml", ".yaml" or ".config."
 *   reads it as a file to load, and fails with ENOENT;
 * - a list may be stale (the daemon answered from an older view) when a
 *   test asks for it.
 *
 * Each process really listens on its port, so readiness checks are real
 * TCP connects. `kill(name)` plays a process that died and that PM2 lost;
 * `crash(name)` one that died and that PM2 restarts by itself: until the
 * restart, it is listed with the status PM2's handleExit gives for the
 * options switchyard really starts it with (pm2StartOptions): `waiting
 * restart` when a restart delay is set, `stopped` when none is.
 * `onDelete` lets a test check, at the instant of every stop, what
 * authorised it; `onStart` lets it play a command killed around a start.
 */
export interface DoubleProcess {
  app: Pm2App;
  pmId: number;
  pid: number;
  restarts: number;
  server: Server;
  /** Set while PM2 restarts it after a crash: the status it is listed with, for this many more lists. */
  restarting?: { status: string; lists: number };
}

let nextPid = 50_000;

export class Pm2Double implements Pm2Connection {
  broken = false;
  readonly running = new Map<string, DoubleProcess>();
  readonly restarted: string[] = [];
  readonly deleted: string[] = [];
  private nextId = 0;
  /** Lists answered from the view of this many calls ago (a delayed daemon). */
  staleLists = 0;
  private lastList: Pm2Process[] = [];
  onDelete: ((name: string) => Promise<void> | void) | undefined;
  /** The daemon's answer time (PM2's RPC), up to this many ms: a list or a start is not instant. */
  latencyMs = 8;
  /** How often the daemon is busy and answers late (30-70 ms): a delayed list is what races a prune against a deploy. */
  busyShare = 0.15;
  /** Told before and after a start; returning 'hang' makes the caller wait forever (a killed command). */
  onStart: ((name: string, when: 'before' | 'after') => 'hang' | undefined) | undefined;

  private async listen(port: number): Promise<Server> {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return server;
  }

  private answerTime(): Promise<void> {
    const ms = Math.random() < this.busyShare ? 30 + Math.floor(Math.random() * 40) : Math.floor(Math.random() * (this.latencyMs + 1));
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async start(app: Pm2App): Promise<void> {
    if (this.onStart?.(app.name, 'before') === 'hang') return new Promise(() => undefined);
    await this.answerTime();
    const port = Number(app.env.PORT);
    const existing = this.running.get(app.name);
    if (existing !== undefined) {
      // PM2 restarts a listed name with the new environment: every connection to it is dropped.
      this.restarted.push(app.name);
      await close(existing.server);
      existing.server = await this.listen(Number(existing.app.env.PORT));
      existing.restarts += 1;
      existing.pid = nextPid++;
      existing.app = app;
      return;
    }
    const server = await this.listen(port);
    this.running.set(app.name, { app, pmId: this.nextId++, pid: nextPid++, restarts: 0, server });
    if (this.onStart?.(app.name, 'after') === 'hang') return new Promise(() => undefined);
  }

  async describe(name: string): Promise<Pm2Process | undefined> {
    return (await this.list()).find((p) => p.name === name);
  }

  async delete(nameOrId: string | number): Promise<void> {
    if (typeof nameOrId === 'string' && /\.(json|ya?ml)|\.config\./.test(nameOrId)) {
      throw new Error(`ENOENT: no such file or directory, open '${nameOrId}'`);
    }
    const entry = [...this.running.entries()].find(([name, p]) => (typeof nameOrId === 'number' ? p.pmId === nameOrId : name === nameOrId));
    if (entry === undefined) throw new Error(`Process or Namespace ${nameOrId} not found`);
    const [name, p] = entry;
    await this.onDelete?.(name);
    this.deleted.push(name);
    this.running.delete(name);
    await close(p.server);
  }

  async list(): Promise<Pm2Process[]> {
    await this.answerTime();
    const now = [...this.running.entries()].map(([name, p]) => ({
      name, pmId: p.pmId, pid: p.pid, status: this.statusOf(p), cpu: 0, memory: 0, uptimeMs: 0, restarts: p.restarts, outFile: undefined, errorFile: undefined, env: p.app.env,
    }));
    if (this.staleLists > 0) {
      this.staleLists -= 1;
      const stale = this.lastList;
      this.lastList = now;
      return stale;
    }
    this.lastList = now;
    return now;
  }

  /** A crashed process's status for one list, and its restart (a new pid) once its window has passed. */
  private statusOf(p: DoubleProcess): string {
    if (p.restarting === undefined) return 'online';
    if (p.restarting.lists <= 0) {
      p.restarting = undefined;
      p.pid = nextPid++;
      p.restarts += 1;
      return 'online';
    }
    p.restarting.lists -= 1;
    return p.restarting.status;
  }

  /**
   * The process dies and PM2 restarts it by itself (autorestart): listed
   * for the next `lists` lists with PM2's status for a pending restart,
   * then online with a new pid.
   */
  crash(name: string, lists: number): void {
    const p = this.running.get(name);
    if (p === undefined || p.restarting !== undefined) return;
    const delay = Number(pm2StartOptions(p.app).restart_delay);
    // PM2's handleExit: `waiting restart` only when a restart delay is set (0 is dropped as unset), `stopped` otherwise.
    p.restarting = { status: Number.isFinite(delay) && delay > 0 ? 'waiting restart' : 'stopped', lists };
  }

  /** The process dies and PM2 forgets it (nobody stopped it). */
  async kill(name: string): Promise<void> {
    const p = this.running.get(name);
    if (p === undefined) return;
    this.running.delete(name);
    await close(p.server);
  }

  disconnect(): void {
    // Nothing held open.
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((name) => this.kill(name)));
  }
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
