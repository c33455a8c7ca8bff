import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TerminalCounters } from '../../../src/demo/terminals.js';
import { describeCalls } from '../../../src/demo/tries.js';
import { captureStderr, type ChildTracker, isRunning, waitExit } from '../../helpers/child-processes.js';

/**
 * The test side of fixtures/load-generator.mjs: starts it as a child (tracked,
 * so afterEach kills it), keeps its latest tick, and asks it to finish.
 */

const GENERATOR = join(import.meta.dirname, '..', 'fixtures', 'load-generator.mjs');

export interface LoadOptions {
  routerUrl: string;
  service: string;
  arriveWith: string;
  concurrent: number;
  sessionMs: [number, number];
  requestEveryMs: number;
  mode: 'redirect' | 'proxy';
  resolveEvery: number;
  retries: number;
  tickMs?: number;
  /** Hard cap on the load (the generator finishes by itself). */
  maxMs: number;
  finishCapMs?: number;
}

export interface Calls {
  login: number;
  resolve: number;
  request: number;
  other: number;
}

export interface Tick {
  t: number;
  online: Record<string, number>;
  onlineTotal: number;
  calls: Calls;
  counters: TerminalCounters;
  /** When the test received it. */
  at: number;
}

export interface LoadResult {
  reason: string;
  finishTimedOut: boolean;
  loadMs: number;
  callsDuringLoad: Calls;
  callsTotal: Calls;
  ratePerS: number;
  lowestWindowRatePerS: number | null;
  peakOnline: number;
  counters: TerminalCounters;
  failures: string[];
  /** The first few reasons a login or resolve was retried (all are counted in `counters`). */
  retried: string[];
  eventLoopLagMs: { p99: number; max: number };
  /** Median of the terminals online over the ticks (seen by the test). */
  medianOnline: number;
}

export interface Load {
  child: ChildProcess;
  lastTick(): Tick | undefined;
  /** Waits until a tick satisfies `accept`; throws after `timeoutMs`. */
  waitTick(what: string, accept: (tick: Tick) => boolean, timeoutMs: number): Promise<Tick>;
  /** Asks it to stop new arrivals, waits for the last sessions, returns its counters. */
  finish(timeoutMs?: number): Promise<LoadResult>;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export async function startLoad(tracker: ChildTracker, opts: LoadOptions): Promise<Load> {
  const child = tracker.spawn(process.execPath, [GENERATOR, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = captureStderr(child);
  let last: Tick | undefined;
  const onlineSeen: number[] = [];
  let result: Omit<LoadResult, 'medianOnline'> | undefined;
  let ready = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let event: any;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.event === 'ready') ready = true;
    else if (event.event === 'tick') {
      last = { ...event, at: Date.now() } as Tick;
      onlineSeen.push(event.onlineTotal);
    } else if (event.event === 'result') result = event;
  });
  const deadline = Date.now() + 15_000;
  while (!ready) {
    if (!isRunning(child) || Date.now() > deadline) throw new Error(`the load generator did not start: ${stderr()}`);
    await sleep(20);
  }

  return {
    child,
    lastTick: () => last,
    async waitTick(what, accept, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (last !== undefined && accept(last)) return last;
        if (!isRunning(child)) throw new Error(`the load generator exited while waiting for ${what}: ${stderr()}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last tick: ${JSON.stringify(last)}`);
        await sleep(20);
      }
    },
    async finish(timeoutMs = 60_000) {
      if (isRunning(child)) child.stdin!.write('finish\n');
      const exited = waitExit(child);
      const outcome = await Promise.race([exited, sleep(timeoutMs).then(() => undefined)]);
      if (outcome === undefined) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`the load generator did not finish within ${timeoutMs} ms; stderr: ${stderr()}`);
      }
      // The last lines may still be in the pipe when 'exit' fires.
      for (let i = 0; i < 50 && result === undefined; i += 1) await sleep(20);
      if (result === undefined) throw new Error(`the load generator printed no result (exit ${JSON.stringify(outcome)}); stderr: ${stderr()}`);
      const sorted = [...onlineSeen].sort((a, b) => a - b);
      return { ...result, medianOnline: sorted[Math.floor(sorted.length / 2)] ?? 0 };
    },
  };
}

/** Requests (to processes, or through the router in proxy mode) + resolves + logins. */
export function callsSent(calls: Calls): number {
  return calls.login + calls.resolve + calls.request;
}

/** The counts every load test prints, in one line's worth of words. */
export function describeLoad(r: LoadResult): string {
  const c = r.counters;
  const d = r.callsDuringLoad;
  return [
    describeCalls(c),
    `(HTTP calls during load, each attempt counted: ${d.request} requests, ${d.resolve} resolves, ${d.login} logins)`,
    `sessions opened=${c.sessionsOpened} completed=${c.sessionsCompleted} cut off=${c.sessionsCutOff}`,
    `online median=${r.medianOnline} peak=${r.peakOnline}`,
    `upgrades followed=${c.upgradesFollowed}`,
    `rate=${r.ratePerS}/s (lowest 1 s window ${r.lowestWindowRatePerS}/s) over ${(r.loadMs / 1000).toFixed(1)} s`,
    `generator event-loop lag p99=${r.eventLoopLagMs.p99} ms`,
    ...(r.retried.length > 0 ? [`first retries: ${r.retried.slice(0, 5).join(' | ')}`] : []),
  ].join('; ');
}
