import WebSocket from 'ws';
import { login } from '../sdk/client.js';

export interface TerminalCounters {
  requestsOk: number;
  requestsFailed: number;
  sessionsOpened: number;
  sessionsCompleted: number;
  sessionsCutOff: number;
  upgradesFollowed: number;
  loginsFailed: number;
}

export interface TerminalFleetOptions {
  routerUrl: string;
  service: string;
  /** The version terminals arrive with (the app they have installed). */
  arriveWith: string;
  concurrent: number;
  sessionMs: [number, number];
  requestEveryMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Simulated terminals: each logs in through the client SDK (following a
 * version change when told), holds a WebSocket session with its process for
 * a few seconds while sending requests to it, then leaves; new terminals
 * keep arriving. Everything that goes wrong is counted, nothing is hidden.
 */
export class TerminalFleet {
  readonly counters: TerminalCounters = { requestsOk: 0, requestsFailed: 0, sessionsOpened: 0, sessionsCompleted: 0, sessionsCutOff: 0, upgradesFollowed: 0, loginsFailed: 0 };
  /** Terminals in a session now, by the version they run. */
  readonly online = new Map<string, number>();
  private arriving = false;
  private next = 0;
  private readonly running = new Set<Promise<void>>();
  readonly failures: string[] = [];

  constructor(private readonly options: TerminalFleetOptions) {}

  start(): void {
    this.arriving = true;
    for (let i = 0; i < this.options.concurrent; i += 1) {
      // Stagger the first arrivals over a second so sessions do not end in lockstep.
      this.spawn(Math.random() * 1000);
    }
  }

  private spawn(delayMs: number): void {
    const id = `t-${this.next++}`;
    const run = (async () => {
      await sleep(delayMs);
      if (this.arriving) await this.session(id);
    })().finally(() => {
      this.running.delete(run);
      if (this.arriving) this.spawn(0);
    });
    this.running.add(run);
  }

  private note(problem: string): void {
    if (this.failures.length < 20) this.failures.push(problem);
  }

  private async session(id: string): Promise<void> {
    const { routerUrl, service, sessionMs, requestEveryMs } = this.options;
    let where;
    try {
      where = await login({ router: routerUrl, service, version: this.options.arriveWith, terminal: id, onUpgrade: () => undefined });
    } catch (error) {
      this.counters.loginsFailed += 1;
      this.note(`${id} login: ${(error as Error).message}`);
      return;
    }
    this.counters.upgradesFollowed += where.upgrades.length;
    const version = where.version;
    const base = `http://${where.address}:${where.port}`;
    const socket = new WebSocket(`ws://${where.address}:${where.port}/session?version=${encodeURIComponent(version)}`);
    let leaving = false;
    const closed = new Promise<void>((resolve) => {
      socket.on('close', (code) => {
        if (leaving) this.counters.sessionsCompleted += 1;
        else {
          this.counters.sessionsCutOff += 1;
          this.note(`${id} session on ${version} closed by the other side (code ${code})`);
        }
        resolve();
      });
    });
    socket.on('error', (error) => this.note(`${id} socket: ${error.message}`));
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    if (!opened) {
      this.counters.requestsFailed += 1;
      return closed;
    }
    this.counters.sessionsOpened += 1;
    this.online.set(version, (this.online.get(version) ?? 0) + 1);
    const until = Date.now() + sessionMs[0] + Math.random() * (sessionMs[1] - sessionMs[0]);
    while (Date.now() < until && socket.readyState === WebSocket.OPEN) {
      await this.request(base, version, id);
      await sleep(requestEveryMs * (0.5 + Math.random()));
    }
    this.online.set(version, (this.online.get(version) ?? 1) - 1);
    leaving = true;
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'terminal leaving');
    await closed;
  }

  private async request(base: string, version: string, id: string): Promise<void> {
    try {
      const response = await fetch(`${base}/play`, { headers: { 'x-switchyard-version': version }, signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { version?: string };
      if (response.status === 200 && body.version === version) this.counters.requestsOk += 1;
      else {
        this.counters.requestsFailed += 1;
        this.note(`${id} request: status ${response.status}, answered by ${body.version}`);
      }
    } catch (error) {
      this.counters.requestsFailed += 1;
      this.note(`${id} request: ${(error as Error).message}`);
    }
  }

  /** Stops new arrivals and waits for every session to end on its own. */
  async finish(): Promise<void> {
    this.arriving = false;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
