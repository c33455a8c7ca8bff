/**
 * switchyard-cli/client: for terminals. Logs in to the router, follows a
 * version-change message by letting the app change version and logging in
 * again, resolves where a request goes, and retries what is worth retrying
 * (the router unreachable or restarting) with a bounded backoff.
 *
 * Every retry is counted, never hidden: a result's `retries` says how many
 * attempts were repeated to get it (0: it succeeded on its first try), a
 * thrown SwitchyardClientError's `retries` how many were made before giving
 * up, and a RetryCounter passed as `counter` adds up the retries of every
 * call it is given. A version change followed during login is the
 * protocol, not a retry, and is listed in `upgrades`.
 *
 * Several routers (`router` as a list, or comma-separated): each attempt
 * asks them in order and fails over to the next on a connect error, a
 * timeout or a 5xx, at once and without a backoff. Failovers are counted
 * like retries (`failovers` on results, errors, counters and a client) and
 * told to onFailover. A client made with createClient keeps asking the
 * router that last answered first (sticky) across its calls.
 */

import { RouterList, type Failover } from './router-list.js';

export type { Failover } from './router-list.js';

export class SwitchyardClientError extends Error {
  /** Attempts repeated before this error was thrown (0 for an error that is not retried). */
  retries = 0;
  /** Failovers to another router made before this error was thrown. */
  failovers = 0;

  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SwitchyardClientError';
  }
}

/** The router serves no process of this version (404 version_not_served). */
export class VersionNotServedError extends SwitchyardClientError {
  constructor(message: string, readonly versions: string[]) {
    super('version_not_served', message, 404);
    this.name = 'VersionNotServedError';
  }
}

/** The router asked for a version change and no onUpgrade was given to make it. */
export class UpgradeRequiredError extends SwitchyardClientError {
  constructor(readonly targetVersion: string) {
    super('upgrade_required', `The router asks this terminal to change to version ${targetVersion}; pass onUpgrade to follow it.`);
    this.name = 'UpgradeRequiredError';
  }
}

/** Retries (and failovers, when the field is there) added up over every call it is passed to (as `counter`). */
export interface RetryCounter {
  retries: number;
  failovers?: number;
}

export interface RequestOptions {
  /** The router's base URL, like http://127.0.0.1:7400; several routers as a list or comma-separated, tried in order. */
  router: string | readonly string[];
  service?: string;
  /** Per attempt. Default 5 s. */
  timeoutMs?: number;
  /** Attempts after the first for network errors and 5xx answers. Default 3. */
  retries?: number;
  /** First backoff; doubles each retry, with jitter. Default 100 ms. */
  backoffMs?: number;
  /** Every retry this call makes is added to `counter.retries`, at the moment it is made. */
  counter?: RetryCounter;
  /** Told of each retry before it is made: why the last attempt failed, and the attempt about to start (1 for the first retry). */
  onRetry?: (reason: SwitchyardClientError, attempt: number) => void;
  /** Told of each failover: the router that failed, why, and the one asked next. */
  onFailover?: (failover: Failover) => void;
}

export interface LoginOptions extends RequestOptions {
  version: string;
  terminal: string;
  /**
   * Called with the target version when the router answers `upgrade`: the
   * app changes version and returns the version it now runs (undefined
   * means it took the target). switchyard then logs in again.
   */
  onUpgrade?: (targetVersion: string) => string | void | Promise<string | void>;
  /** Most version changes to follow in one login. Default 3. */
  maxUpgrades?: number;
}

export interface Destination {
  service: string;
  version: string;
  address: string;
  port: number;
  process: string;
}

export interface ResolveResult extends Destination {
  /** Attempts repeated to get this answer: 0 means the first try succeeded. */
  retries: number;
  /** Failovers to another router made to get this answer. */
  failovers: number;
}

export interface LoginResult extends ResolveResult {
  /** The versions the terminal was asked to change to, in order. */
  upgrades: string[];
}

interface ErrorBody {
  error?: string;
  message?: string;
  versions?: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** fetch's own message is only "fetch failed": its cause (ECONNREFUSED, ECONNRESET, …) says which way. */
function why(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return detail === undefined ? (error as Error).message : `${(error as Error).message} (${detail})`;
}

type Asked = { failed: SwitchyardClientError } | { status: number; body: unknown };

/** One request to one router: its answer, or why none came. */
async function ask(base: string, path: string, init: RequestInit, timeoutMs: number): Promise<Asked> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    return { failed: new SwitchyardClientError('router_unreachable', `The router at ${base} could not be reached: ${why(error)}.`) };
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = {};
  }
  if (response.status < 500) return { status: response.status, body };
  const err = body as ErrorBody;
  return { failed: new SwitchyardClientError(err.error ?? 'router_error', err.message ?? `The router at ${base} answered ${response.status}.`, response.status) };
}

interface Made {
  body: unknown;
  retries: number;
  failovers: number;
}

/**
 * One router call with its failovers and retries: each attempt asks the
 * routers in `list`'s order, going on to the next at once on a connect
 * error, a timeout or a 5xx; when all failed, the attempt is retried after
 * a backoff.
 */
async function call(opts: RequestOptions, list: RouterList, path: string, init: RequestInit): Promise<Made> {
  const retries = opts.retries ?? 3;
  const before = list.failovers;
  let lastError: SwitchyardClientError | undefined;
  const fail = (error: SwitchyardClientError, attempt: number): SwitchyardClientError => {
    error.retries = attempt;
    error.failovers = list.failovers - before;
    return error;
  };
  const notify = (failover: Failover): void => {
    if (opts.counter !== undefined) opts.counter.failovers = (opts.counter.failovers ?? 0) + 1;
    opts.onFailover?.(failover);
  };
  for (let attempt = 0; attempt <= retries; attempt += 1) {
    if (attempt > 0) {
      if (opts.counter !== undefined) opts.counter.retries += 1;
      if (lastError !== undefined) opts.onRetry?.(lastError, attempt);
      await sleep((opts.backoffMs ?? 100) * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    const order = list.order();
    for (let i = 0; i < order.length; i += 1) {
      const base = order[i]!;
      const answer = await ask(base, path, init, opts.timeoutMs ?? 5000);
      if ('failed' in answer) {
        lastError = answer.failed;
        const next = order[i + 1];
        if (next !== undefined) list.failedOver(base, lastError, next, notify);
        continue;
      }
      list.answered(base);
      if (answer.status >= 200 && answer.status < 300) return { body: answer.body, retries: attempt, failovers: list.failovers - before };
      const err = answer.body as ErrorBody;
      const message = err.message ?? `The router answered ${answer.status}.`;
      if (err.error === 'version_not_served') throw fail(new VersionNotServedError(message, err.versions ?? []), attempt);
      throw fail(new SwitchyardClientError(err.error ?? 'request_failed', message, answer.status), attempt);
    }
  }
  throw fail(lastError ?? new SwitchyardClientError('router_unreachable', 'The router could not be reached.'), retries);
}

async function loginWith(opts: LoginOptions, list: RouterList): Promise<LoginResult> {
  let version = opts.version;
  const upgrades: string[] = [];
  // Retries and failovers of every login call this login makes (one more per version change followed).
  let retries = 0;
  let failovers = 0;
  const fail = (error: SwitchyardClientError): SwitchyardClientError => {
    error.retries = retries;
    error.failovers = failovers;
    return error;
  };
  for (;;) {
    let made;
    try {
      made = await call(opts, list, '/v1/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service: opts.service, version, terminal: opts.terminal }),
      });
    } catch (error) {
      // The earlier calls' retries and failovers count too.
      if (error instanceof SwitchyardClientError) {
        error.retries += retries;
        error.failovers += failovers;
      }
      throw error;
    }
    retries += made.retries;
    failovers += made.failovers;
    const answer = made.body as { action: string; targetVersion?: string } & Partial<Destination>;
    if (answer.action === 'connect') {
      return { service: answer.service!, version: answer.version!, address: answer.address!, port: answer.port!, process: answer.process!, upgrades, retries, failovers };
    }
    if (answer.action !== 'upgrade' || typeof answer.targetVersion !== 'string') {
      throw fail(new SwitchyardClientError('unexpected_answer', `The router's login answer was not understood: ${JSON.stringify(answer).slice(0, 200)}.`));
    }
    if (opts.onUpgrade === undefined) throw fail(new UpgradeRequiredError(answer.targetVersion));
    if (upgrades.length >= (opts.maxUpgrades ?? 3)) {
      throw fail(new SwitchyardClientError('too_many_upgrades', `The router asked for ${upgrades.length + 1} version changes in one login (last: ${answer.targetVersion}); giving up.`));
    }
    upgrades.push(answer.targetVersion);
    const changed = await opts.onUpgrade(answer.targetVersion);
    version = typeof changed === 'string' ? changed : answer.targetVersion;
  }
}

async function resolveWith(opts: RequestOptions & { version: string }, list: RouterList): Promise<ResolveResult> {
  const query = new URLSearchParams({ version: opts.version, ...(opts.service ? { service: opts.service } : {}) });
  const made = await call(opts, list, `/v1/resolve?${query}`, { method: 'GET' });
  return { ...(made.body as Destination), retries: made.retries, failovers: made.failovers };
}

/** Where this terminal should connect, following version changes. */
export function login(opts: LoginOptions): Promise<LoginResult> {
  return loginWith(opts, new RouterList(opts.router));
}

/** Where a request of a terminal running `version` goes. */
export function resolve(opts: RequestOptions & { version: string }): Promise<ResolveResult> {
  return resolveWith(opts, new RouterList(opts.router));
}

type CallOptions<T extends RequestOptions> = Omit<T, 'router'>;

/** login and resolve with shared defaults, asking the router that last answered first across calls. */
export interface SwitchyardClient {
  login(opts: CallOptions<LoginOptions>): Promise<LoginResult>;
  resolve(opts: CallOptions<RequestOptions & { version: string }>): Promise<ResolveResult>;
  /** The routers, in the order they are listed. */
  readonly routers: readonly string[];
  /** Failovers this client has made, over all its calls. */
  readonly failovers: number;
}

export function createClient(defaults: RequestOptions): SwitchyardClient {
  const list = new RouterList(defaults.router);
  return {
    login: (opts) => loginWith({ ...defaults, ...opts, router: list.urls } as LoginOptions, list),
    resolve: (opts) => resolveWith({ ...defaults, ...opts, router: list.urls } as RequestOptions & { version: string }, list),
    routers: list.urls,
    get failovers() {
      return list.failovers;
    },
  };
}
