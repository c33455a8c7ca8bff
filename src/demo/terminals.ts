import WebSocket from 'ws';
import { login, resolve, SwitchyardClientError } from '../sdk/client.js';

/**
 * What the terminals saw. A request is a call to the service (one attempt,
 * never retried) or a resolve at the router (through the SDK, which retries);
 * a login goes through the SDK too. Every call that succeeded is counted as
 * first-try or after-retry, and every retry made is counted, so "0 failed"
 * is never a success that quietly needed retries.
 */
export interface TerminalCounters {
  /** Succeeded, first try or after retries (requestsFirstTry + requestsAfterRetry). */
  requestsOk: number;
  requestsFirstTry: number;
  requestsAfterRetry: number;
  /** Retries made by requests, whether they succeeded in the end or not. */
  requestRetries: number;
  /** Never succeeded: retries used up, a wrong answer, or an error not worth retrying. */
  requestsFailed: number;
  sessionsOpened: number;
  sessionsCompleted: number;
  sessionsCutOff: number;
  upgradesFollowed: number;
  /** Succeeded, first try or after retries (loginsFirstTry + loginsAfterRetry). */
  loginsOk: number;
  loginsFirstTry: number;
  loginsAfterRetry: number;
  /** Retries made by logins, whether they succeeded in the end or not. */
  loginRetries: number;
  loginsFailed: number;
}

/** Retries a call made before it threw (0 for errors that are not the SDK's). */
const retriesOf = (error: unknown): number => (error instanceof SwitchyardClientError ? error.retries : 0);

export interface TerminalFleetOptions {
  routerUrl: string;
  service: string;
  /** The version terminals arrive with (the app they have installed). */
  arriveWith: string;
  concurrent: number;
  sessionMs: [number, number];
  requestEveryMs: number;
  /** redirect: terminals talk to their process directly; proxy: through the router. Default redirect. */
  mode?: 'redirect' | 'proxy';
  /** Every how many requests a terminal also asks the router to resolve its version (0: never). */
  resolveEvery?: number;
  /** Retries of logins and resolves while the router is unreachable (the SDK backs off). Default 3. */
  retries?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Simulated terminals: each logs in through the client SDK (following a
 * version change when told), holds a WebSocket session with its process for
 * a few seconds while sending requests to it, then leaves; new terminals
 * keep arriving. Everything that goes wrong is counted, nothing is hidden.
 */
export class TerminalFleet {
  readonly counters: TerminalCounters = {
    requestsOk: 0,
    requestsFirstTry: 0,
    requestsAfterRetry: 0,
    requestRetries: 0,
    requestsFailed: 0,
    sessionsOpened: 0,
    sessionsCompleted: 0,
    sessionsCutOff: 0,
    upgradesFollowed: 0,
    loginsOk: 0,
    loginsFirstTry: 0,
    loginsAfterRetry: 0,
    loginRetries: 0,
    loginsFailed: 0,
  };
  /** Terminals in a session now, by the version they run. */
  readonly online = new Map<string, number>();
  private arriving = false;
  private next = 0;
  private readonly running = new Set<Promise<void>>();
  readonly failures: string[] = [];
  /** The first few reasons a call was retried (each retry is counted in the counters). */
  readonly retried: string[] = [];

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

  private noteRetry(id: string, what: string): (reason: Error, attempt: number) => void {
    return (reason, attempt) => {
      if (this.retried.length < 20) this.retried.push(`${id} ${what}, retry ${attempt}: ${reason.message}`);
    };
  }

  private requestOk(retries: number): void {
    this.counters.requestsOk += 1;
    this.counters.requestRetries += retries;
    if (retries > 0) this.counters.requestsAfterRetry += 1;
    else this.counters.requestsFirstTry += 1;
  }

  private async session(id: string): Promise<void> {
    const { routerUrl, service, sessionMs, requestEveryMs } = this.options;
    let where;
    try {
      where = await login({
        router: routerUrl,
        service,
        version: this.options.arriveWith,
        terminal: id,
        onUpgrade: () => undefined,
        retries: this.options.retries ?? 3,
        onRetry: this.noteRetry(id, 'login'),
      });
    } catch (error) {
      this.counters.loginsFailed += 1;
      this.counters.loginRetries += retriesOf(error);
      this.note(`${id} login: ${(error as Error).message}`);
      return;
    }
    this.counters.loginsOk += 1;
    this.counters.loginRetries += where.retries;
    if (where.retries > 0) this.counters.loginsAfterRetry += 1;
    else this.counters.loginsFirstTry += 1;
    this.counters.upgradesFollowed += where.upgrades.length;
    const version = where.version;
    const proxied = this.options.mode === 'proxy';
    // Through the router, the version header picks the process; directly, the address does.
    const base = proxied ? routerUrl : `http://${where.address}:${where.port}`;
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/session?version=${encodeURIComponent(version)}`, {
      headers: { 'x-switchyard-version': version, 'x-switchyard-service': service },
    });
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
    let sent = 0;
    while (Date.now() < until && socket.readyState === WebSocket.OPEN) {
      await this.request(base, version, id);
      sent += 1;
      if (this.options.resolveEvery && sent % this.options.resolveEvery === 0) await this.resolveOnce(version, id);
      await sleep(requestEveryMs * (0.5 + Math.random()));
    }
    this.online.set(version, (this.online.get(version) ?? 1) - 1);
    leaving = true;
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'terminal leaving');
    await closed;
  }

  private async resolveOnce(version: string, id: string): Promise<void> {
    try {
      const where = await resolve({ router: this.options.routerUrl, service: this.options.service, version, retries: this.options.retries ?? 3, onRetry: this.noteRetry(id, 'resolve') });
      if (where.version === version) this.requestOk(where.retries);
      else {
        this.counters.requestsFailed += 1;
        this.counters.requestRetries += where.retries;
        this.note(`${id} resolve of ${version} answered ${where.version}`);
      }
    } catch (error) {
      this.counters.requestsFailed += 1;
      this.counters.requestRetries += retriesOf(error);
      this.note(`${id} resolve: ${(error as Error).message}`);
    }
  }

  private async request(base: string, version: string, id: string): Promise<void> {
    try {
      const response = await fetch(`${base}/play`, { headers: { 'x-switchyard-version': version, 'x-switchyard-service': this.options.service }, signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { version?: string };
      // One attempt, never retried: a failure here is a failure.
      if (response.status === 200 && body.version === version) this.requestOk(0);
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
