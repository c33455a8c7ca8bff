import { connect } from 'node:net';

export interface ReadinessCheck {
  address: string;
  port: number;
  /** An HTTP path that must answer 2xx; without it, a TCP connect is enough. */
  httpPath: string | undefined;
}

function tcpOpen(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function httpOk(address: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  const host = address.includes(':') ? `[${address}]` : address;
  try {
    const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300;
  } catch {
    return false;
  }
}

/** One probe: is the process ready now? */
export function probeReady(check: ReadinessCheck, timeoutMs = 1000): Promise<boolean> {
  return check.httpPath === undefined ? tcpOpen(check.address, check.port, timeoutMs) : httpOk(check.address, check.port, check.httpPath, timeoutMs);
}

/**
 * Probes until ready or the deadline; `abort` ends the wait early (the
 * process crashed) and says why.
 */
export async function waitReady(check: ReadinessCheck, timeoutMs: number, abort?: () => Promise<string | undefined>): Promise<{ ready: boolean; reason?: string; waitedMs: number }> {
  const started = Date.now();
  let delay = 25;
  while (Date.now() - started < timeoutMs) {
    if (await probeReady(check, Math.min(1000, timeoutMs))) return { ready: true, waitedMs: Date.now() - started };
    const reason = await abort?.();
    if (reason !== undefined) return { ready: false, reason, waitedMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  return { ready: false, reason: `not ready within ${Math.round(timeoutMs / 100) / 10}s`, waitedMs: Date.now() - started };
}
