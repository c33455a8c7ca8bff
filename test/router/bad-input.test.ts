import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidVersion } from '../../src/core/version.js';
import { closeAllBackends, startBackend, type BackendServer } from '../helpers/backends.js';
import { closeHttp, http, rawRequest, type HttpAnswer } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * Thousands of generated bad requests against a real proxy-mode router:
 * every one must be answered with a 4xx JSON error {error, message}, none
 * with a 5xx, none left hanging, and the router must still be healthy after.
 * Generated with fast-check from a fixed seed (FC_SEED overrides it), so a
 * failure names a reproducible case.
 */

const SEED = Number(process.env.FC_SEED ?? 20261125);
const MAX_BODY = 8192;
/** The router's header limit (router.ts MAX_HEADER_BYTES). */
const MAX_HEADER_BYTES = 16 * 1024;
const PER_REQUEST_TIMEOUT_MS = 10_000;

let router: RouterProcess;
let backend: BackendServer;
let chat: BackendServer;

beforeAll(async () => {
  [backend, chat] = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ service: 'chat', version: '2.0.0' })]);
  router = await startRouter({
    mode: 'proxy',
    maxBodyBytes: MAX_BODY,
    policy: buildPolicy(
      {
        lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: backend.port }, { version: '1.4.0', port: backend.port, state: 'draining' }] },
        chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: chat.port }] },
      },
      1,
    ),
  });
});

const userPm2HomeUntouched = guardUserPm2Home();

afterAll(async () => {
  await stopAllRouters();
  await closeAllBackends();
  await closeHttp();
  userPm2HomeUntouched();
});

// ---------------------------------------------------------------- generators

type Spec =
  | { kind: 'http'; label: string; method: string; path: string; headers: Record<string, string>; body?: string | Buffer; chunked?: boolean; expect?: number }
  | { kind: 'raw'; label: string; bytes: Buffer; expect?: number };

const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', 'Object'];

/** Printable ASCII without spaces at the ends: safe in a header value and a query. */
const headerSafe = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,38}[\x21-\x7e])?$/);

const invalidVersionString = fc.oneof(
  fc.constantFrom('1.5', '1.5.0.0', 'v1.5.0', '01.5.0', '1.5.0-', '=1.5.0', '1.5.x', '*', '^1.5.0', '>=1.0.0', '~1.5', 'latest', '1.5.0+', '1.5.0-beta..1', `${'9'.repeat(300)}.0.0`, '-1.0.0', '1.-5.0', 'NaN.NaN.NaN', '1.5.0 || 2.0.0'),
  fc.string({ maxLength: 30 }),
  headerSafe,
).filter((s) => !isValidVersion(s) && s !== '');

/** Printable-ASCII invalid versions, for headers, queries and cookies. */
const invalidVersionHeader = fc.oneof(invalidVersionString, headerSafe).filter((s) => !isValidVersion(s) && /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s));

const nonString = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }));
const anyInvalidVersion = fc.oneof(invalidVersionString, nonString);
const validVersion = fc.constantFrom('1.5.0', '1.4.0', '2.0.0', '9.9.9', '1.5.0-beta.1', '0.0.1+build.7');
const unknownService = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.stringMatching(/^[a-z][a-z0-9_-]{0,12}$/).filter((s) => s !== 'lobby' && s !== 'chat'), fc.string({ maxLength: 20 }).filter((s) => s !== 'lobby' && s !== 'chat' && s !== ''));

const notJson = fc.oneof(
  fc.string({ maxLength: 60 }).filter((s) => !parses(s)),
  fc.constantFrom('{', '{"service":', '{"service":"lobby","version":"1.5.0"', "{'service':'lobby'}", '{service: lobby}', 'undefined', 'NaN', '[1,2,', '{"a":1}}', '\u0000', '{"version":"1.5.0",}', '// comment\n{}', ' ', '', '\n\t'),
  fc.jsonValue().map((v) => JSON.stringify(v)).filter((s) => s.length > 2).map((s) => s.slice(0, -1)).filter((s) => !parses(s)),
);
const jsonNotObject = fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }), fc.integer(), fc.string({ maxLength: 20 }), fc.constant(null), fc.boolean()).map((v) => JSON.stringify(v));
const deepNesting = fc.integer({ min: 100, max: 2000 }).map((depth) => `{"service":"lobby","version":${'['.repeat(depth)}${']'.repeat(depth)}}`);

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });
const withoutUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Login bodies that can never be a valid login (bad version, bad or unknown service, bad terminal, not an object, not JSON). */
const loginBody = fc.oneof(
  notJson,
  jsonNotObject,
  deepNesting,
  fc.record({ service: optional(fc.oneof(fc.constantFrom('lobby', 'chat'), unknownService, nonString)), version: optional(anyInvalidVersion), terminal: optional(fc.oneof(fc.string(), nonString)) }).map((o) => JSON.stringify(withoutUndefined(o))),
  fc.record({ service: fc.oneof(unknownService, nonString), version: validVersion, terminal: optional(fc.string()) }).map((o) => JSON.stringify(withoutUndefined(o))),
  fc.record({ version: validVersion, terminal: optional(fc.string()) }).map((o) => JSON.stringify(withoutUndefined(o))), // two services: service_required
  fc.record({ service: fc.constantFrom('lobby', 'chat'), version: validVersion, terminal: nonString }).map((o) => JSON.stringify(o)),
  fc.tuple(fc.constantFrom(...PROTO_NAMES), anyInvalidVersion).map(([name, version]) => `{"${name}": {"service": "lobby"}, "service": "${name}", "version": ${JSON.stringify(version)}}`),
);

const loginSpec: fc.Arbitrary<Spec> = fc.tuple(loginBody, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', '')).map(([body, type]): Spec => ({
  kind: 'http',
  label: 'login',
  method: 'POST',
  path: '/v1/login',
  headers: type === '' ? {} : { 'content-type': type as string },
  body,
}));

const queryPart = fc.oneof(fc.string({ maxLength: 20 }).map(encodeURIComponent), fc.constantFrom('%zz', '%', '%E0%A4%A', '%00', '%FF%FE', '+', '%2B', ''));
const resolveSpec: fc.Arbitrary<Spec> = fc
  .oneof(
    fc.record({ service: optional(fc.oneof(fc.constantFrom('lobby', 'chat'), unknownService)), version: optional(invalidVersionString) }).map((q) => [q.service === undefined ? '' : `service=${encodeURIComponent(q.service)}`, q.version === undefined ? '' : `version=${encodeURIComponent(q.version)}`]),
    fc.record({ service: unknownService, version: validVersion }).map((q) => [`service=${encodeURIComponent(q.service)}`, `version=${q.version}`]),
    fc.record({ version: validVersion }).map((q) => [`version=${q.version}`]),
    fc.tuple(fc.constantFrom('lobby', 'chat'), fc.constantFrom('9.9.9', '3.0.0', '1.5.1', '0.1.0')).map(([s, v]) => [`service=${s}`, `version=${v}`]),
    fc.tuple(queryPart, queryPart, fc.constantFrom('version', 'service', 'v', 'version[]', '__proto__')).map(([a, b, key]) => [`${key}=${a}`, `service=${b}`]),
  )
  .map((parts) => ({ kind: 'http', label: 'resolve', method: 'GET', path: `/v1/resolve?${parts.filter((p) => p !== '').join('&')}`, headers: {} }));

const goodHeartbeat = (seq: number) => ({ service: 'lobby', version: '1.5.0', process: 'lobby@1.5.0#0', seq, terminals: { '1.5.0': 3 } as Record<string, unknown> });

/** Mutations that each make a heartbeat invalid. */
const heartbeatMutation = fc.oneof(
  fc.oneof(fc.constantFrom('__proto__', '_x', '', 'lobby!', 'a'.repeat(65)), nonString).map((v) => (h: Record<string, unknown>) => ({ ...h, service: v })),
  fc.constantFrom('chat', 'constructor', 'toString').map((v) => (h: Record<string, unknown>) => ({ ...h, service: v })), // disagrees with the process id
  anyInvalidVersion.map((v) => (h: Record<string, unknown>) => ({ ...h, version: v })),
  fc.constantFrom('1.4.0', '2.0.0').map((v) => (h: Record<string, unknown>) => ({ ...h, version: v })), // disagrees with the process id
  fc.oneof(fc.constantFrom('lobby', 'lobby@1.5.0', 'lobby@1.5.0#', '@1.5.0#0', 'lobby#0', `lobby@1.5.0#${'1'.repeat(500)}`, 'lobby@1.5.0#-1'), nonString).map((v) => (h: Record<string, unknown>) => ({ ...h, process: v })),
  fc.oneof(fc.constantFrom(-1, 1.5, -0.5, '3', null, true, [], {}), fc.integer({ max: -1 })).map((v) => (h: Record<string, unknown>) => ({ ...h, seq: v })),
  fc.oneof(
    fc.constantFrom<unknown>(null, [], [1, 2], 'all', 5, { '1.5.0': -1 }, { '1.5.0': 1.5 }, { '1.5.0': '3' }, { '1.5.0': 2e9 }, { x: 1 }, { '1.5': 1 }, { '1.5.0': null }),
    fc.dictionary(invalidVersionString, fc.integer({ min: 0, max: 10 }), { minKeys: 1, maxKeys: 4 }),
    fc.integer({ min: 1001, max: 1500 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`1.0.${i}`, 1]))),
  ).map((v) => (h: Record<string, unknown>) => ({ ...h, terminals: v })),
  fc.constantFrom('service', 'version', 'process', 'seq', 'terminals').map((key) => (h: Record<string, unknown>) => {
    const copy = { ...h };
    delete copy[key];
    return copy;
  }),
);

const wrongAuthorization = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Token abc', 'Bearer a b', 'Bearer null', 'Bearer undefined'),
  fc.stringMatching(/^[0-9a-f]{1,80}$/).map((t) => `Bearer ${t}`),
  headerSafe.map((t) => `Bearer ${t}`),
);

const heartbeatSpec: fc.Arbitrary<Spec> = fc.oneof(
  // No or a wrong token: 401 whatever the body (a valid heartbeat included).
  fc.tuple(wrongAuthorization, fc.oneof(fc.nat().map((seq) => JSON.stringify(goodHeartbeat(seq))), notJson, jsonNotObject)).map(([auth, body]): Spec => ({
    kind: 'http',
    label: 'heartbeat-no-token',
    method: 'POST',
    path: '/v1/heartbeat',
    headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: auth }) },
    body,
    expect: 401,
  })),
  // The token, and a body that is not a valid heartbeat.
  fc.oneof(
    fc.tuple(fc.nat(), fc.array(heartbeatMutation, { minLength: 1, maxLength: 3 })).map(([seq, mutations]) => JSON.stringify(mutations.reduce((h, m) => m(h), goodHeartbeat(seq + 1) as Record<string, unknown>))),
    notJson,
    jsonNotObject,
    deepNesting,
  ).map((body): Spec => ({ kind: 'http', label: 'heartbeat-token', method: 'POST', path: '/v1/heartbeat', headers: { 'content-type': 'application/json', authorization: `Bearer ${router.token}` }, body })),
);

const cookieName = fc.stringMatching(/^[a-z]{1,8}$/);
const oddCookie = fc.oneof(
  invalidVersionHeader.map((v) => `switchyard-version=${v}`),
  fc.tuple(cookieName, headerSafe, invalidVersionHeader).map(([n, v, sv]) => `${n}=${v.replace(/[;]/g, '')}; switchyard-version=${encodeURIComponent(sv)}`),
  fc.constantFrom('switchyard-version', 'switchyard-version=', ';;;', '=;=', 'switchyard-version=%E0%A4%A', 'switchyard-version="1.5.0"', 'switchyard-version=1.5.0;', 'Switchyard-Version=1.5.0', ' = ; switchyard-version = %zz'),
  fc.array(fc.tuple(cookieName, headerSafe), { minLength: 1, maxLength: 30 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v.replace(/;/g, '')}`).join('; ')),
);

/** Proxied requests that carry no usable route: no or an invalid version, or an unknown or missing service. */
const proxiedSpec: fc.Arbitrary<Spec> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    path: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)).filter((p) => !/^\/(healthz|metrics)(\?|$)/.test(p)),
    carrier: fc.oneof(
      fc.constant<Record<string, string>>({}),
      invalidVersionHeader.map((v) => ({ 'x-switchyard-version': v })),
      invalidVersionHeader.map((v) => ({ query: v })),
      oddCookie.map((c) => ({ cookie: c })),
      fc.tuple(validVersion, unknownService.filter((s) => /^[\x21-\x7e]+$/.test(s))).map(([v, s]) => ({ 'x-switchyard-version': v, 'x-switchyard-service': s })),
      validVersion.map((v) => ({ 'x-switchyard-version': v })), // two services and none named: service_required
      fc.tuple(fc.constantFrom('lobby', 'chat'), fc.constantFrom('9.9.9', '1.5.1', '3.0.0')).map(([s, v]) => ({ 'x-switchyard-version': v, 'x-switchyard-service': s })),
      fc.tuple(invalidVersionHeader, validVersion).map(([bad, good]) => ({ 'x-switchyard-version': bad, query: good, 'x-switchyard-service': 'lobby' })), // the header wins, and is bad
    ),
    extra: fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), headerSafe, { maxKeys: 5 }),
    body: optional(fc.string({ maxLength: 200 })),
  })
  .map(({ method, path, carrier, extra, body }) => {
    const { query, ...headers } = carrier as Record<string, string>;
    const target = query === undefined ? path : `${path}${path.includes('?') ? '&' : '?'}switchyard-version=${encodeURIComponent(query)}`;
    const hasBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
    return { kind: 'http' as const, label: 'proxied', method, path: target, headers: { ...extra, ...headers }, ...(hasBody ? { body } : {}) };
  });

/** Bodies over maxBodyBytes on the JSON endpoints: 413, by content-length or while streaming. */
const hugeSpec: fc.Arbitrary<Spec> = fc
  .record({ path: fc.constantFrom('/v1/login', '/v1/heartbeat'), size: fc.integer({ min: MAX_BODY + 1, max: 600_000 }), chunked: fc.boolean() })
  .map(({ path, size, chunked }) => ({
    kind: 'http' as const,
    label: `huge-${chunked ? 'chunked' : 'sized'}`,
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...(path === '/v1/heartbeat' ? { authorization: `Bearer ${router.token}` } : {}) },
    body: Buffer.from(`{"service":"lobby","version":"1.5.0","pad":"${'x'.repeat(size)}"}`),
    chunked,
    expect: 413,
  }));

const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

/** Requests fetch or undici will not send: oversized heads, malformed HTTP, odd request targets. */
const rawSpec: fc.Arbitrary<Spec> = fc.oneof(
  // Over the header limit: one huge value, or many headers.
  fc.record({ size: fc.integer({ min: MAX_HEADER_BYTES + 1, max: MAX_HEADER_BYTES * 4 }), name: fc.constantFrom('x-big', 'cookie', 'x-switchyard-version', 'authorization') }).map(({ size, name }) => ({
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
  fc.integer({ min: MAX_HEADER_BYTES + 1, max: MAX_HEADER_BYTES * 3 }).map((n) => ({
    kind: 'raw' as const,
    label: 'url-over-limit',
    bytes: Buffer.from(crlf([`GET /${'p'.repeat(n)} HTTP/1.1`, 'Host: router', 'Connection: close'])),
    expect: 431,
  })),
  // Just under the limit: answered normally (here 400: no version).
  fc.integer({ min: 1000, max: MAX_HEADER_BYTES - 1000 }).map((n) => ({
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

// ---------------------------------------------------------------- sending

async function send(spec: Spec): Promise<HttpAnswer> {
  if (spec.kind === 'raw') return rawRequest(router.host, router.port, spec.bytes, PER_REQUEST_TIMEOUT_MS);
  let body: string | Buffer | Readable | undefined = spec.body;
  if (spec.chunked && body !== undefined) {
    const whole = Buffer.from(body);
    body = Readable.from((function* () {
      for (let i = 0; i < whole.length; i += 16384) yield whole.subarray(i, i + 16384);
    })());
  }
  return http(`${router.url}${spec.path}`, { method: spec.method, headers: spec.headers, ...(body !== undefined ? { body } : {}), timeoutMs: PER_REQUEST_TIMEOUT_MS });
}

interface Outcome {
  spec: Spec;
  problem?: string;
  status?: number;
}

function check(spec: Spec, answer: HttpAnswer): string | undefined {
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

async function sendAll(specs: Spec[], concurrency: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        try {
          const answer = await send(spec);
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

function describeSpec(spec: Spec): string {
  if (spec.kind === 'raw') return `raw ${JSON.stringify(spec.bytes.toString('latin1').slice(0, 200))}`;
  return `${spec.method} ${spec.path.slice(0, 200)} headers=${JSON.stringify(spec.headers).slice(0, 300)} body=${JSON.stringify(String(spec.body ?? '').slice(0, 200))}`;
}

describe('bad input', () => {
  it('answers every generated bad request with a 4xx JSON error and stays healthy', async () => {
    const started = Date.now();
    const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, offset: number) => fc.sample(arb, { numRuns, seed: SEED + offset });
    const httpSpecs: Spec[] = [
      ...sample(loginSpec, 550, 1),
      ...sample(resolveSpec, 350, 2),
      ...sample(heartbeatSpec, 550, 3),
      ...sample(proxiedSpec, 500, 4),
      ...sample(hugeSpec, 80, 5),
    ];
    const rawSpecs = sample(rawSpec, 300, 6);

    const [httpOutcomes, rawOutcomes] = await Promise.all([sendAll(httpSpecs, 8), sendAll(rawSpecs, 4)]);
    const outcomes = [...httpOutcomes, ...rawOutcomes];
    const failed = outcomes.filter((o) => o.problem !== undefined);

    const byLabel = new Map<string, Map<number, number>>();
    for (const o of outcomes) {
      const label = o.spec.label;
      const counts = byLabel.get(label) ?? new Map<number, number>();
      counts.set(o.status ?? 0, (counts.get(o.status ?? 0) ?? 0) + 1);
      byLabel.set(label, counts);
    }
    const summary = [...byLabel].map(([label, counts]) => `${label} ${[...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`).join('; ');

    const health = await router.health(5_000);
    const healthy = health?.ok === true && router.alive();
    console.log(`bad input: ${outcomes.length} requests, ${failed.length === 0 ? 'all 4xx JSON' : `${failed.length} NOT 4xx JSON`}, router ${healthy ? 'healthy' : 'NOT healthy'} (seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`bad input by kind (status×count): ${summary}`);

    expect(failed.slice(0, 15).map((o) => `${o.problem}\n    for ${describeSpec(o.spec)}`)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(2000);
    expect(healthy).toBe(true);
    expect(router.stderr()).not.toContain('internal error');
    // And it still routes good traffic.
    const good = await http(`${router.url}/page`, { headers: { 'x-switchyard-version': '1.5.0', 'x-switchyard-service': 'lobby' } });
    expect(good.status).toBe(200);
  });

  it('draws the 431 line at the header limit', async () => {
    // Find the largest header value still accepted, then check one byte more is 431.
    const head = (n: number) => Buffer.from(crlf(['GET /page HTTP/1.1', 'Host: x', `x-big: ${'c'.repeat(n)}`, 'Connection: close']));
    let low = 1000;
    let high = MAX_HEADER_BYTES + 100;
    expect((await rawRequest(router.host, router.port, head(low))).status).toBe(400);
    expect((await rawRequest(router.host, router.port, head(high))).status).toBe(431);
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      const { status } = await rawRequest(router.host, router.port, head(mid));
      expect([400, 431]).toContain(status);
      if (status === 431) high = mid;
      else low = mid;
    }
    const under = await rawRequest(router.host, router.port, head(low));
    const over = await rawRequest(router.host, router.port, head(high));
    expect(under.status).toBe(400);
    expect(under.json()).toMatchObject({ error: 'version_required' });
    expect(over.status).toBe(431);
    expect(over.json()).toMatchObject({ error: 'headers_too_large', message: expect.stringContaining(String(MAX_HEADER_BYTES)) });
    // The whole head at the line is about the documented limit.
    expect(head(high).length).toBeGreaterThan(MAX_HEADER_BYTES - 100);
    expect(head(high).length).toBeLessThan(MAX_HEADER_BYTES + 200);
    expect((await router.health())?.ok).toBe(true);
  });
});
