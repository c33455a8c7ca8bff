import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';

/**
 * A small HTTP client for router tests, on undici's `request` with its own
 * keep-alive pool: any method, Buffer/string/stream bodies, any header a
 * well-formed request may carry (cookie and host included), and a hard
 * per-request timeout so a hung answer fails the test instead of stalling it.
 * For requests undici refuses to send (malformed HTTP, oversized heads) use
 * rawRequest, on a plain node:net socket.
 */

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (throws with the text when it is not JSON). */
  json<T = any>(): T;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  timeoutMs?: number;
}

const agent = new Agent({ connections: 32, keepAliveTimeout: 2_000 });

function answer(status: number, headers: HttpAnswer['headers'], text: string): HttpAnswer {
  return {
    status,
    headers,
    text,
    json<T>() {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new Error(`expected a JSON body with status ${status}, got: ${text.slice(0, 300)}`);
      }
    },
  };
}

export async function http(url: string, opts: HttpOptions = {}): Promise<HttpAnswer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await request(url, {
    dispatcher: agent,
    method: (opts.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET',
    headers,
    body: body ?? null,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.body.text();
  return answer(response.statusCode, response.headers, text);
}

export const postJson = (url: string, json: unknown, headers?: Record<string, string>) => http(url, { method: 'POST', json, ...(headers ? { headers } : {}) });

/**
 * Sends `raw` bytes as they are on a fresh TCP connection and reads the
 * answer until the server closes the connection or one whole response
 * (by content-length) has arrived. Rejects on timeout, and when the server
 * closes without answering.
 */
export function rawRequest(host: string, port: number, raw: string | Buffer, timeoutMs = 10_000): Promise<HttpAnswer> {
  return import('node:net').then(
    ({ connect }) =>
      new Promise<HttpAnswer>((resolve, reject) => {
        const socket = connect({ host, port });
        const chunks: Buffer[] = [];
        let settled = false;
        const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(String(raw).slice(0, 120))}`)), timeoutMs);
        const finish = (error?: Error) => {
          if (settled) return;
          const parsed = parse(Buffer.concat(chunks));
          if (error === undefined && parsed === undefined) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          if (parsed !== undefined) resolve(parsed);
          else reject(error ?? new Error('no answer'));
        };
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          finish();
        });
        // The server may answer before it has read everything (413, 431) and reset the rest.
        socket.on('error', (error) => finish(error));
        socket.on('end', () => finish(new Error(`the connection closed without a whole answer; got: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`)));
        socket.on('close', () => finish(new Error('the connection closed without a whole answer')));
        socket.write(raw);
      }),
  );
}

/** One whole HTTP/1.1 response with a content-length body, or undefined when more is needed. */
function parse(data: Buffer): HttpAnswer | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? NaN);
  if (!Number.isInteger(status)) return undefined;
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = data.subarray(end + 4);
  if (body.length < length) return undefined;
  return answer(status, headers, body.subarray(0, length).toString('utf8'));
}

/** Closes the pool (for afterAll; optional). */
export function closeHttp(): Promise<void> {
  return agent.close();
}
