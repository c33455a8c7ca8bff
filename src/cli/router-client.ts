import { get } from 'node:http';
import { signAsCli } from '../sdk/signing.js';

export { routerUrl } from '../config/router-url.js';

/** /healthz: `ok` and `generation` for anyone; the rest only with the token. */
export interface Health {
  ok: boolean;
  generation: number | null;
  fileBroken?: boolean;
  error?: string | null;
  mode?: string;
}

/**
 * One GET to the router, answered as status and parsed JSON. node:http
 * rather than fetch: fetch's first use costs about 120 ms of start-up, which
 * is most of what `switchyard status` would otherwise spend.
 */
function getJson(url: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: unknown } | undefined> {
  return new Promise((resolve) => {
    const request = get(url, { headers, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch {
          resolve(undefined);
        }
      });
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

/** GET /healthz (signed with the CLI's key from the router's secret: the details too); undefined when nothing answers. */
export async function fetchHealth(baseUrl: string, timeoutMs = 1000, secret?: string): Promise<Health | undefined> {
  const url = new URL(`${baseUrl}/healthz`);
  const headers: Record<string, string> = secret === undefined ? {} : signAsCli(secret, 'GET', url.pathname);
  return (await getJson(url.href, headers, timeoutMs))?.body as Health | undefined;
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

/**
 * GET /v1/status, signed with the CLI's key derived from the router's secret
 * (the token file); the secret itself is never sent. Undefined when the
 * router does not answer.
 */
export async function fetchStatus(baseUrl: string, secret: string, timeoutMs = 2000): Promise<unknown | undefined> {
  const url = new URL(`${baseUrl}/v1/status`);
  const answer = await getJson(url.href, signAsCli(secret, 'GET', url.pathname), timeoutMs);
  return answer?.status === 200 ? answer.body : undefined;
}
