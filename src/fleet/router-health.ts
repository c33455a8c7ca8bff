import { get } from 'node:http';
import { signAsCli } from '../protocol/signing.js';

/**
 * Asking routers how they are over HTTP: /healthz for the supervisor that
 * starts one under PM2 and for every command that warns when none answers,
 * and any signed GET for the CLI. Here, beside PM2's supervision of the
 * router, so that operations can bring a router back without reaching up
 * into the CLI.
 */

/** /healthz: `ok` and `generation` for anyone; the rest only with the token. */
export interface Health {
  ok: boolean;
  generation: number | null;
  fileBroken?: boolean;
  error?: string | null;
  mode?: string;
}

/** A router the CLI asked that did not answer, or answered 5xx, so the next one was asked. */
export interface RouterFailover {
  url: string;
  /** ECONNREFUSED, timeout, "answered 503", … */
  reason: string;
  /** The router asked next. */
  next: string;
}

type Got = { status: number; body: unknown } | { reason: string };

/**
 * One GET to the router, answered as status and parsed JSON, or why not.
 * node:http rather than fetch: fetch's first use costs about 120 ms of
 * start-up, which is most of what `switchyard status` would otherwise spend.
 */
function getJson(url: string, headers: Record<string, string>, timeoutMs: number): Promise<Got> {
  return new Promise((resolve) => {
    const request = get(url, { headers, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch {
          resolve({ reason: `answered ${response.statusCode ?? 0} with no JSON` });
        }
      });
      response.on('error', (error: NodeJS.ErrnoException) => resolve({ reason: error.code ?? error.message }));
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ reason: error.code ?? error.message }));
  });
}

export interface RouterAnswer {
  /** The router that answered (undefined: none did). */
  url: string | undefined;
  status: number | undefined;
  body: unknown;
  /** Each router that failed before `url` answered, in order. */
  failovers: RouterFailover[];
}

/**
 * A signed GET of `path` from the first router of `urls` that answers
 * below 500: one that refuses, times out or answers 5xx is a failover, and
 * the next is asked. When every router failed, the first 5xx answer (if any)
 * is returned, so "up, but no valid policy" still shows.
 */
export async function askRouters(urls: readonly string[], path: string, secret: string | undefined, timeoutMs: number): Promise<RouterAnswer> {
  const failovers: RouterFailover[] = [];
  let fallback: RouterAnswer | undefined;
  for (const [i, base] of urls.entries()) {
    const url = new URL(`${base}${path}`);
    const got = await getJson(url.href, secret === undefined ? {} : signAsCli(secret, 'GET', url.pathname), timeoutMs);
    const answered = 'status' in got;
    if (answered && got.status < 500) return { url: base, status: got.status, body: got.body, failovers };
    if (answered && fallback === undefined) fallback = { url: base, status: got.status, body: got.body, failovers: [] };
    const next = urls[i + 1];
    if (next !== undefined) failovers.push({ url: base, reason: answered ? `answered ${got.status}` : got.reason, next });
  }
  return fallback === undefined ? { url: undefined, status: undefined, body: undefined, failovers } : { ...fallback, failovers };
}

/** GET /healthz (signed with the CLI's key from the router's secret: the details too); undefined when nothing answers. */
export async function fetchHealth(baseUrl: string, timeoutMs = 1000, secret?: string): Promise<Health | undefined> {
  return (await askRouters([baseUrl], '/healthz', secret, timeoutMs)).body as Health | undefined;
}

/** Polls /healthz until it answers 200 or the time is up. */
export async function waitForHealthy(baseUrl: string, timeoutMs: number): Promise<Health | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: Health | undefined;
  while (Date.now() < deadline) {
    last = await fetchHealth(baseUrl, 500);
    if (last?.ok === true) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}
