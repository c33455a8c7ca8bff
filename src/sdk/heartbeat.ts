/**
 * switchyard-cli/heartbeat: for service processes. Reports, at the interval
 * switchyard gave the process, how many terminals of each version it holds.
 * It never throws into the app, never keeps the process alive on its own,
 * and backs off while the router times out or fails (not while it is
 * restarting: a refused or dropped connection is retried at the interval).
 * Every heartbeat is signed with the process's own key (docs/signing.md);
 * the key itself is never sent.
 *
 * With several routers (SWITCHYARD_ROUTER_URL comma-separated, or a list
 * in the options), a beat that meets a refused connection, a timeout or a
 * 5xx goes on to the next router at once, signed afresh; each failover is
 * counted in `failovers` and told to onFailover and onError.
 */

import { failureCode, RouterList, type Failover } from './router-list.js';
import { drainNoticeOf, type DrainNotice } from '../protocol/bodies.js';
import { signRequest } from '../protocol/signing.js';
import { metricsSince, type RequestTotals } from './request-totals.js';

export type { Failover } from './router-list.js';
export type { DrainNotice } from '../protocol/bodies.js';
export type { RequestTotals } from './request-totals.js';

/** Terminals held: a map or record of version → count, or an iterable of versions (one per terminal). */
export type TerminalsSnapshot = Map<string, number> | Record<string, number> | Iterable<string>;

export interface HeartbeatOptions {
  /** Called at every beat: the terminals this process holds now. */
  terminals: () => TerminalsSnapshot;
  /**
   * Called at every beat: this process's request counters as running totals
   * (they only grow; errors are 5xx and failed requests). Each beat carries
   * what they grew by since the last beat a router took, so progressive
   * rollouts can judge a version in redirect mode, where the router sees
   * no traffic. Leave it out to send no counters.
   */
  metrics?: () => RequestTotals;
  /**
   * Defaults come from the environment switchyard gives a process. Several
   * routers: a list, or one comma-separated string, tried in order.
   */
  routerUrl?: string | readonly string[];
  /** This process's own signing key (SWITCHYARD_TOKEN); it never leaves the process. */
  token?: string;
  service?: string;
  version?: string;
  process?: string;
  intervalMs?: number;
  /** Called with each failed send (the app keeps running); default: silent. */
  onError?: (error: Error) => void;
  /** Called with each failover: the router that failed, why, and the one asked next. */
  onFailover?: (failover: Failover) => void;
  /**
   * Called when the router answers that this process's version drains (no
   * new logins come; move the terminals on before the deadline, when the
   * process is stopped): once, and again whenever the deadline changes.
   */
  onDrain?: (notice: DrainNotice) => void;
  env?: NodeJS.ProcessEnv;
}

export interface Heartbeat {
  /** Sends one last heartbeat and stops. */
  stop(): Promise<void>;
  /** Sends a heartbeat now (also used by stop). */
  beat(): Promise<boolean>;
  readonly sent: number;
  readonly failed: number;
  /** Heartbeats sent on to another router because one failed (several routers only). */
  readonly failovers: number;
  /** The last drain notice the router gave; undefined while the version does not drain. */
  readonly drain: DrainNotice | undefined;
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') {
    throw new Error(`switchyard heartbeat: ${name} is not set; switchyard sets it when it starts the process (or pass it in the options).`);
  }
  return value;
}

/** The interval: the option, else SWITCHYARD_HEARTBEAT_MS, else 5 s. Anything but a positive number is refused (NaN or 0 would beat in a tight loop). */
function heartbeatInterval(option: number | undefined, fromEnv: string | undefined): number {
  if (option !== undefined) {
    if (!Number.isFinite(option) || option <= 0) throw new Error(`switchyard heartbeat: intervalMs must be a positive number of milliseconds, got ${String(option)}.`);
    return option;
  }
  if (fromEnv === undefined || fromEnv.trim() === '') return 5000;
  const ms = Number(fromEnv);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new Error(`switchyard heartbeat: SWITCHYARD_HEARTBEAT_MS must be a positive number of milliseconds, got ${JSON.stringify(fromEnv)}.`);
  }
  return ms;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    throw new Error(`switchyard heartbeat: SWITCHYARD_ROUTER_URL must be a URL like http://127.0.0.1:7400 (several comma-separated), got ${JSON.stringify(url)}.`);
  }
}

export function countTerminals(snapshot: TerminalsSnapshot): Record<string, number> {
  if (snapshot instanceof Map) return Object.fromEntries(snapshot);
  if (typeof (snapshot as Iterable<string>)[Symbol.iterator] === 'function') {
    const counts: Record<string, number> = {};
    for (const version of snapshot as Iterable<string>) counts[version] = (counts[version] ?? 0) + 1;
    return counts;
  }
  return { ...(snapshot as Record<string, number>) };
}

/** fetch failed because nothing listens at the address, or the connection died with the router (not a timeout or an error answer). */
function restarting(error: unknown): boolean {
  const code = failureCode(error);
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
}

/** Worth asking another router: no connection, a timeout, or a 5xx. */
class RouterFailed extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const env = options.env ?? process.env;
  const given = options.routerUrl ?? env.SWITCHYARD_ROUTER_URL;
  const routers = new RouterList(typeof given === 'string' || given === undefined ? required(given, 'SWITCHYARD_ROUTER_URL') : given);
  const token = required(options.token ?? env.SWITCHYARD_TOKEN, 'SWITCHYARD_TOKEN');
  const service = required(options.service ?? env.SWITCHYARD_SERVICE, 'SWITCHYARD_SERVICE');
  const version = required(options.version ?? env.SWITCHYARD_VERSION, 'SWITCHYARD_VERSION');
  const processId = required(options.process ?? env.SWITCHYARD_PROCESS, 'SWITCHYARD_PROCESS');
  const intervalMs = heartbeatInterval(options.intervalMs, env.SWITCHYARD_HEARTBEAT_MS);
  // Signed as each router will see the request line: the URL's path, any prefix included.
  const paths = new Map(routers.urls.map((url) => [url, pathOf(`${url}/v1/heartbeat`)]));

  /** One signed POST to one router (a fresh nonce each time): the drain notice if any; throws when the beat was not taken. */
  const send = async (url: string, body: string): Promise<DrainNotice | undefined> => {
    let response: Response;
    try {
      response = await fetch(`${url}/v1/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signRequest(token, processId, 'POST', paths.get(url)!, body) },
        body,
        signal: AbortSignal.timeout(Math.max(1000, Math.min(intervalMs, 5000))),
      });
    } catch (error) {
      throw Object.assign(new RouterFailed(`the router at ${url} could not be reached (${failureCode(error) ?? (error as Error).message})`), { cause: error });
    }
    // 200 carries the drain notice (DESIGN.md); a body that is not one still means the beat was taken.
    if (response.status === 200) return drainNoticeOf(await response.json().catch(() => undefined));
    await response.body?.cancel();
    if (response.status >= 500) throw new RouterFailed(`the router at ${url} answered ${response.status} to a heartbeat`, response.status);
    if (response.status !== 204) throw new Error(`the router at ${url} answered ${response.status} to a heartbeat`);
    return undefined;
  };

  let drain: DrainNotice | undefined;
  /** Tells the app of a drain once, and again when its deadline moves (a new drain, or a changed timeout). */
  const noticed = (notice: DrainNotice): void => {
    const changed = drain === undefined || drain.deadline !== notice.deadline;
    drain = notice;
    if (!changed) return;
    try {
      options.onDrain?.(notice);
    } catch (error) {
      options.onError?.(error as Error);
    }
  };

  let seq = 0;
  let sent = 0;
  let failed = 0;
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let taken: RequestTotals = { requests: 0, errors: 0 };

  const beat = async (): Promise<boolean> => {
    let terminals: Record<string, number>;
    let metrics: RequestTotals | undefined;
    try {
      terminals = countTerminals(options.terminals());
    } catch (error) {
      options.onError?.(error as Error);
      return false;
    }
    try {
      const totals = options.metrics?.();
      if (totals !== undefined) {
        metrics = metricsSince(totals, taken);
        // Taken at once, so a beat built while this one is in flight (stop) does not send the same counts again.
        taken = { requests: totals.requests, errors: totals.errors };
      }
    } catch (error) {
      // The beat still goes, without counters: the terminals it carries keep the version from being retired.
      options.onError?.(error as Error);
    }
    // A beat no router took gives its counts back, so the next beat carries them.
    const giveBack = (): false => {
      if (metrics !== undefined) taken = { requests: Math.max(0, taken.requests - metrics.requests), errors: Math.max(0, taken.errors - metrics.errors) };
      return false;
    };
    const body = JSON.stringify({ service, version, process: processId, seq: seq++, terminals, ...(metrics === undefined ? {} : { metrics }) });
    const order = routers.order();
    for (let i = 0; i < order.length; i += 1) {
      const url = order[i]!;
      try {
        const notice = await send(url, body);
        routers.answered(url);
        if (notice !== undefined) noticed(notice);
        sent += 1;
        failures = 0;
        return true;
      } catch (error) {
        const next = order[i + 1];
        if (error instanceof RouterFailed && next !== undefined) {
          // Counted and told, never hidden: the app sees which router failed and why.
          routers.failedOver(url, error, next, options.onFailover);
          options.onError?.(error);
          continue;
        }
        failed += 1;
        // A refused or dropped connection means the router is restarting (or stopped): trying again costs it
        // nothing, and the next beat at the normal interval makes its tally whole again within one interval.
        failures = restarting((error as Error).cause) ? 0 : failures + 1;
        options.onError?.(error as Error);
        return giveBack();
      }
    }
    return giveBack();
  };

  // Up to ±10% jitter so a fleet restarted together does not beat in lockstep;
  // while the router times out or fails, wait longer (up to 4 intervals).
  const schedule = (): void => {
    if (stopped) return;
    const backoff = Math.min(2 ** failures, 4);
    const delay = intervalMs * (failures === 0 ? 1 : backoff) * (0.9 + Math.random() * 0.2);
    timer = setTimeout(() => {
      void beat().finally(schedule);
    }, delay);
    timer.unref();
  };

  void beat().finally(schedule);

  return {
    beat,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await beat();
    },
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    get failovers() {
      return routers.failovers;
    },
    get drain() {
      return drain;
    },
  };
}
