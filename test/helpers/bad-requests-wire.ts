import { Readable } from 'node:stream';
import fc from 'fast-check';
import { http, rawRequest, type HttpAnswer } from './http.js';
import type { Spec } from './bad-requests.js';

/**
 * Bad requests below the HTTP client libraries (malformed heads, oversized
 * headers, odd bytes), and the sending and checking of every generated bad
 * request (bad-requests.ts): each must be a 4xx with a JSON body holding
 * an error code and a message, or the status its spec expects.
 */

export const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

/** Requests fetch or undici will not send: oversized heads, malformed HTTP, odd request targets. */
export const rawSpec = (maxHeaderBytes: number): fc.Arbitrary<Spec> => fc.oneof(
  // Over the header limit: one huge value, or many headers.
  fc.record({ size: fc.integer({ min: maxHeaderBytes + 1, max: maxHeaderBytes * 4 }), name: fc.constantFrom('x-big', 'cookie', 'x-switchyard-version', 'authorization') }).map(({ size, name }) => ({
    kind: 'raw' as const,
    label: 'header-over-limit',
    bytes: Buffer.from(crlf(['GET /v1/resolve?service=lobby&version=1.5.0 HTTP/1.1', 'Host: router', `${name}: ${'a'.repeat(size)}`, 'Connection: close'])),
    expect: 431,
  })),
  fc.integer({ min: 400, max: 1500 }).map((n) => ({
    kind: 'raw' as const,
    label: 'many-headers-over-limit',
    bytes: Buffer.from(crlf(['POST /v1/login HTTP/1.1', 'Host: router', ...Array.from({ length: n }, (_, i) => `x-h-${i}: ${'v'.repeat(40)}`), 'Connection: close'])),
    expect: 431,
  })),
  fc.integer({ min: maxHeaderBytes + 1, max: maxHeaderBytes * 3 }).map((n) => ({
    kind: 'raw' as const,
    label: 'url-over-limit',
    bytes: Buffer.from(crlf([`GET /${'p'.repeat(n)} HTTP/1.1`, 'Host: router', 'Connection: close'])),
    expect: 431,
  })),
  // Just under the limit: answered normally (here 400: no version).
  fc.integer({ min: 1000, max: maxHeaderBytes - 1000 }).map((n) => ({
    kind: 'raw' as const,
    label: 'header-under-limit',
    bytes: Buffer.from(crlf(['GET /page HTTP/1.1', 'Host: router', `x-big: ${'b'.repeat(n)}`, 'Connection: close'])),
    expect: 400,
  })),
  // Malformed request lines, targets and heads.
  fc
    .constantFrom(
      'HELLO\r\n\r\n',
      'GET\r\n\r\n',
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET / FOO/1.1\r\nHost: x\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'G@T / HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET ../../etc/passwd HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nConnection: close\r\n\r\n',
      'GET http://evil.example/x HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nConnection: close\r\n\r\n',
      'GET evil.example:80 HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nConnection: close\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nConnection: close\r\n\r\n',
      'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nx-switchyard-version: 1.5.0\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n0\r\n\r\n',
      'POST /page HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n0\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\nConnection: close\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nx-switchyard-version:\r\nConnection: close\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\x00\r\nConnection: close\r\n\r\n',
      'GET /x HTTP/1.1\r\nHost: x\r\nx-switchyard-version: 1.5.0\r\n  folded: continuation\r\nConnection: close\r\n\r\n',
      'GET /x?switchyard-version=%zz HTTP/1.0\r\n\r\n',
      'GET /v1/resolve?service=__proto__&version=1.5.0 HTTP/1.0\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\nConnection: close\r\n\r\n',
      'DELETE /v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /v1/../../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-switchyard-version: 1.5\r\n\r\n',
      'GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: __proto__\r\n\r\n',
      'GET http://x/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-switchyard-version: 1.5.0\r\nx-switchyard-service: lobby\r\n\r\n',
    )
    .map((text) => ({ kind: 'raw' as const, label: 'malformed', bytes: Buffer.from(text, 'latin1') })),
  // Bytes no client library sends: non-ASCII and control characters in the target and in header values.
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.constantFrom('target', 'version', 'service', 'cookie')).map(([bytes, where]) => {
    // Never a byte that would end the value cleanly (a cookie's ";", trailing white space): the odd byte must stay in it.
    const odd = Buffer.from(bytes).toString('latin1').replace(/[\r\n\t ;,]/g, '\x7f');
    const lines =
      where === 'target'
        ? [`GET /${odd} HTTP/1.1`, 'Host: x', 'Connection: close']
        : where === 'version'
          ? ['GET /page HTTP/1.1', 'Host: x', `x-switchyard-version: 1.5.0${odd}`, 'x-switchyard-service: lobby', 'Connection: close']
          : where === 'service'
            ? ['GET /page HTTP/1.1', 'Host: x', 'x-switchyard-version: 1.5.0', `x-switchyard-service: lobby${odd}`, 'Connection: close']
            : ['GET /page HTTP/1.1', 'Host: x', `Cookie: switchyard-version=1.5.0${odd}`, 'x-switchyard-service: lobby', 'Connection: close'];
    return { kind: 'raw' as const, label: `odd-bytes-${where}`, bytes: Buffer.from(crlf(lines), 'latin1') };
  }),
);

export interface Target {
  host: string;
  port: number;
  url: string;
}

async function send(target: Target, spec: Spec, timeoutMs: number): Promise<HttpAnswer> {
  if (spec.kind === 'raw') return rawRequest(target.host, target.port, spec.bytes, timeoutMs);
  let body: string | Buffer | Readable | undefined = spec.body;
  if (spec.chunked && body !== undefined) {
    const whole = Buffer.from(body);
    body = Readable.from((function* () {
      for (let i = 0; i < whole.length; i += 16384) yield whole.subarray(i, i + 16384);
    })());
  }
  return http(`${target.url}${spec.path}`, { method: spec.method, headers: spec.headers, ...(body !== undefined ? { body } : {}), timeoutMs });
}

export interface Outcome {
  spec: Spec;
  problem?: string;
  status?: number;
}

export function check(spec: Spec, answer: HttpAnswer): string | undefined {
  if (answer.status < 400 || answer.status > 499) return `status ${answer.status}: ${answer.text.slice(0, 300)}`;
  if (spec.expect !== undefined && answer.status !== spec.expect) return `expected ${spec.expect}, got ${answer.status}: ${answer.text.slice(0, 300)}`;
  // A HEAD answer has no body to check.
  if (spec.kind === 'http' && spec.method === 'HEAD') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return `status ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 300)}`;
  }
  const { error, message } = (body ?? {}) as { error?: unknown; message?: unknown };
  if (typeof error !== 'string' || error === '') return `no error code in ${answer.text.slice(0, 300)}`;
  if (typeof message !== 'string' || message.trim() === '') return `no message in ${answer.text.slice(0, 300)}`;
  return undefined;
}

export async function sendAll(target: Target, specs: Spec[], concurrency: number, timeoutMs = 10_000): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        try {
          const answer = await send(target, spec, timeoutMs);
          const problem = check(spec, answer);
          outcomes.push({ spec, status: answer.status, ...(problem ? { problem } : {}) });
        } catch (error) {
          outcomes.push({ spec, problem: `no answer: ${(error as Error).message}` });
        }
      }
    }),
  );
  return outcomes;
}

export function describeSpec(spec: Spec): string {
  if (spec.kind === 'raw') return `raw ${JSON.stringify(spec.bytes.toString('latin1').slice(0, 200))}`;
  return `${spec.method} ${spec.path.slice(0, 200)} headers=${JSON.stringify(spec.headers).slice(0, 300)} body=${JSON.stringify(String(spec.body ?? '').slice(0, 200))}`;
}

/** "label status×count …" for every label, for the log. */
export function summarise(outcomes: Outcome[]): string {
  const byLabel = new Map<string, Map<number, number>>();
  for (const o of outcomes) {
    const counts = byLabel.get(o.spec.label) ?? new Map<number, number>();
    counts.set(o.status ?? 0, (counts.get(o.status ?? 0) ?? 0) + 1);
    byLabel.set(o.spec.label, counts);
  }
  return [...byLabel].map(([label, counts]) => `${label} ${[...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`).join('; ');
}
