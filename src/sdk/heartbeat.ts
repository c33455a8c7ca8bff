/**
 * switchyard-cli/heartbeat: for service processes. Reports, at the interval
 * switchyard gave the process, how many terminals of each version it holds.
 * It never throws into the app, never keeps the process alive on its own,
 * and backs off while the router times out or fails (not while it is
 * restarting: a refused or dropped connection is retried at the interval).
 * Every heartbeat is signed with the process's own key (docs/signing.md);
 * the key itself is never sent.
 */

import { signRequest } from './signing.js';

/** Terminals held: a map or record of version → count, or an iterable of versions (one per terminal). */
export type TerminalsSnapshot = Map<string, number> | Record<string, number> | Iterable<string>;

export interface HeartbeatOptions {
  /** Called at every beat: the terminals this process holds now. */
  terminals: () => TerminalsSnapshot;
  /** Defaults come from the environment switchyard gives a process. */
  routerUrl?: string;
  /** This process's own signing key (SWITCHYARD_TOKEN); it never leaves the process. */
  token?: string;
  service?: string;
  version?: string;
  process?: string;
  intervalMs?: number;
  /** Called with each failed send (the app keeps running); default: silent. */
  onError?: (error: Error) => void;
  env?: NodeJS.ProcessEnv;
}

export interface Heartbeat {
  /** Sends one last heartbeat and stops. */
  stop(): Promise<void>;
  /** Sends a heartbeat now (also used by stop). */
  beat(): Promise<boolean>;
  readonly sent: number;
  readonly failed: number;
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
    throw new Error(`switchyard heartbeat: SWITCHYARD_ROUTER_URL must be a URL like http://127.0.0.1:7400, got ${JSON.stringify(url)}.`);
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
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const env = options.env ?? process.env;
  const routerUrl = required(options.routerUrl ?? env.SWITCHYARD_ROUTER_URL, 'SWITCHYARD_ROUTER_URL').replace(/\/+$/, '');
  const token = required(options.token ?? env.SWITCHYARD_TOKEN, 'SWITCHYARD_TOKEN');
  const service = required(options.service ?? env.SWITCHYARD_SERVICE, 'SWITCHYARD_SERVICE');
  const version = required(options.version ?? env.SWITCHYARD_VERSION, 'SWITCHYARD_VERSION');
  const processId = required(options.process ?? env.SWITCHYARD_PROCESS, 'SWITCHYARD_PROCESS');
  const intervalMs = heartbeatInterval(options.intervalMs, env.SWITCHYARD_HEARTBEAT_MS);
  const heartbeatUrl = `${routerUrl}/v1/heartbeat`;
  // Signed as the router will see the request line: the URL's path, any prefix included.
  const heartbeatPath = pathOf(heartbeatUrl);

  let seq = 0;
  let sent = 0;
  let failed = 0;
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const beat = async (): Promise<boolean> => {
    let terminals: Record<string, number>;
    try {
      terminals = countTerminals(options.terminals());
    } catch (error) {
      options.onError?.(error as Error);
      return false;
    }
    const body = JSON.stringify({ service, version, process: processId, seq: seq++, terminals });
    try {
      const response = await fetch(heartbeatUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signRequest(token, processId, 'POST', heartbeatPath, body) },
        body,
        signal: AbortSignal.timeout(Math.max(1000, Math.min(intervalMs, 5000))),
      });
      await response.body?.cancel();
      if (response.status !== 204) throw new Error(`the router answered ${response.status} to a heartbeat`);
      sent += 1;
      failures = 0;
      return true;
    } catch (error) {
      failed += 1;
      // A refused or dropped connection means the router is restarting (or stopped): trying again costs it
      // nothing, and the next beat at the normal interval makes its tally whole again within one interval.
      failures = restarting(error) ? 0 : failures + 1;
      options.onError?.(error as Error);
      return false;
    }
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
  };
}
