export { routerUrl } from '../config/router-url.js';

export interface Health {
  ok: boolean;
  generation: number | null;
  fileBroken: boolean;
  error: string | null;
  mode: string;
}

/** GET /healthz; undefined when nothing answers. */
export async function fetchHealth(baseUrl: string, timeoutMs = 1000): Promise<Health | undefined> {
  try {
    const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return (await response.json()) as Health;
  } catch {
    return undefined;
  }
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

/** GET /v1/status with the token; undefined when the router does not answer. */
export async function fetchStatus(baseUrl: string, token: string, timeoutMs = 2000): Promise<unknown | undefined> {
  try {
    const response = await fetch(`${baseUrl}/v1/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return await response.json();
  } catch {
    return undefined;
  }
}
