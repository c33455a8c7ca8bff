import { createServer, type Server } from 'node:net';
import type { Fleet, FleetProcess, ProbeResult, ProcessSpec } from '../../src/fleet/fleet.js';
import type { Fleets } from '../../src/fleet/fleets.js';
import { canBind } from '../../src/fleet/ports.js';

/**
 * A fleet double for the control plane's model tests: it records every start
 * and stop, and each "process" really listens on its port (so readiness
 * checks are real TCP connects), without PM2. `kill(id)` plays a process
 * that died and was lost from PM2. `onRemove` lets a test check, at the
 * instant of every stop, what authorised it.
 */
export interface RecordedStop {
  id: string;
  at: number;
}

export class FleetDouble implements Fleet, Fleets {
  readonly host = 'local';
  readonly remote = false;
  readonly running = new Map<string, { spec: ProcessSpec; server: Server }>();
  readonly starts: string[] = [];
  readonly stops: RecordedStop[] = [];
  onRemove: ((id: string) => Promise<void> | void) | undefined;

  async get(): Promise<Fleet> {
    return this;
  }

  async require(): Promise<Fleet> {
    return this;
  }

  resolvePath(path: string): string {
    return path;
  }

  /** As the real fleet does: only ports that can be bound right now (another suite may hold one). */
  async probe(_script: string, ports: number[], want: number): Promise<ProbeResult> {
    const freePorts: number[] = [];
    for (const port of ports) {
      if (freePorts.length >= want) break;
      if (await canBind(port, '127.0.0.1')) freePorts.push(port);
    }
    return { scriptFound: true, freePorts };
  }

  async copyFolder(): Promise<'none'> {
    return 'none';
  }

  async start(spec: ProcessSpec): Promise<void> {
    if (this.running.has(spec.id)) throw new Error(`the double already runs ${spec.id}: a name was reused`);
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.port, '127.0.0.1', () => resolve());
    });
    this.starts.push(spec.id);
    this.running.set(spec.id, { spec, server });
  }

  async remove(id: string): Promise<void> {
    const run = this.running.get(id);
    if (run === undefined) return;
    await this.onRemove?.(id);
    this.stops.push({ id, at: Date.now() });
    this.running.delete(id);
    await new Promise<void>((resolve) => run.server.close(() => resolve()));
  }

  /** The process dies and PM2 forgets it (no stop recorded: nobody stopped it). */
  async kill(id: string): Promise<void> {
    const run = this.running.get(id);
    if (run === undefined) return;
    this.running.delete(id);
    await new Promise<void>((resolve) => run.server.close(() => resolve()));
  }

  async list(): Promise<FleetProcess[]> {
    return [...this.running.keys()].map((id) => ({ id, pid: 1, status: 'online', cpu: 0, memory: 0, uptimeMs: 0, restarts: 0 }));
  }

  async logTail(): Promise<string> {
    return '';
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id)));
  }
}
