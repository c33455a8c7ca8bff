import { signRequest } from '../../src/protocol/signing.js';
import { heartbeatHeaders } from './signed.js';
import fc from 'fast-check';
import { isValidVersion } from '../../src/core/version.js';

/**
 * Generators of bad requests for a router serving two services, lobby
 * (1.5.0 active, 1.4.0 draining) and chat (2.0.0), in proxy mode: every
 * request generated here can never be served, and must be answered with a
 * 4xx JSON error {error, message}. Used by test/router/bad-input.test.ts
 * and, larger, by test/reliability/bad-input.test.ts. Sending and checking:
 * bad-requests-wire.ts.
 */

export type Spec =
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

export const loginSpec: fc.Arbitrary<Spec> = fc.tuple(loginBody, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', '')).map(([body, type]): Spec => ({
  kind: 'http',
  label: 'login',
  method: 'POST',
  path: '/v1/login',
  headers: type === '' ? {} : { 'content-type': type as string },
  body,
}));

const queryPart = fc.oneof(fc.string({ maxLength: 20 }).map(encodeURIComponent), fc.constantFrom('%zz', '%', '%E0%A4%A', '%00', '%FF%FE', '+', '%2B', ''));
export const resolveSpec: fc.Arbitrary<Spec> = fc
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

/** Heartbeats without a valid signature (401: a bearer token is none), and signed but with a body that is not a valid heartbeat. */
export const heartbeatSpec = (token: () => string): fc.Arbitrary<Spec> => fc.oneof(
  // Unsigned (whatever Authorization says): 401 whatever the body (a valid heartbeat included).
  fc.tuple(wrongAuthorization, fc.oneof(fc.nat().map((seq) => JSON.stringify(goodHeartbeat(seq))), notJson, jsonNotObject)).map(([auth, body]): Spec => ({
    kind: 'http',
    label: 'heartbeat-no-token',
    method: 'POST',
    path: '/v1/heartbeat',
    headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: auth }) },
    body,
    expect: 401,
  })),
  // Signed with the router's own secret as if it were a process key: 401.
  fc.nat().map((seq): Spec => {
    const body = JSON.stringify(goodHeartbeat(seq));
    return { kind: 'http', label: 'heartbeat-bad-signature', method: 'POST', path: '/v1/heartbeat', headers: { 'content-type': 'application/json', ...signRequest(token(), 'lobby@1.5.0#0', 'POST', '/v1/heartbeat', body) }, body, expect: 401 };
  }),
  // Signed, and a body that is not a valid heartbeat.
  fc.oneof(
    fc.tuple(fc.nat(), fc.array(heartbeatMutation, { minLength: 1, maxLength: 3 })).map(([seq, mutations]) => JSON.stringify(mutations.reduce((h, m) => m(h), goodHeartbeat(seq + 1) as Record<string, unknown>))),
    notJson,
    jsonNotObject,
    deepNesting,
  ).map((body): Spec => ({ kind: 'http', label: 'heartbeat-signed', method: 'POST', path: '/v1/heartbeat', headers: heartbeatHeaders(token(), body, 'lobby@1.5.0#0'), body })),
);

const cookieName = fc.stringMatching(/^[a-z]{1,8}$/);
const oddCookie = fc.oneof(
  invalidVersionHeader.map((v) => `switchyard-version=${v}`),
  fc.tuple(cookieName, headerSafe, invalidVersionHeader).map(([n, v, sv]) => `${n}=${v.replace(/[;]/g, '')}; switchyard-version=${encodeURIComponent(sv)}`),
  fc.constantFrom('switchyard-version', 'switchyard-version=', ';;;', '=;=', 'switchyard-version=%E0%A4%A', 'switchyard-version="1.5.0"', 'switchyard-version=1.5.0;', 'Switchyard-Version=1.5.0', ' = ; switchyard-version = %zz'),
  fc.array(fc.tuple(cookieName, headerSafe), { minLength: 1, maxLength: 30 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v.replace(/;/g, '')}`).join('; ')),
);

/** Proxied requests that carry no usable route: no or an invalid version, or an unknown or missing service. */
export const proxiedSpec: fc.Arbitrary<Spec> = fc
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
export const hugeSpec = (maxBody: number, token: () => string): fc.Arbitrary<Spec> => fc
  .record({ path: fc.constantFrom('/v1/login', '/v1/heartbeat'), size: fc.integer({ min: maxBody + 1, max: 600_000 }), chunked: fc.boolean() })
  .map(({ path, size, chunked }) => {
    const body = Buffer.from(`{"service":"lobby","version":"1.5.0","pad":"${'x'.repeat(size)}"}`);
    return {
      kind: 'http' as const,
      label: `huge-${chunked ? 'chunked' : 'sized'}`,
      method: 'POST',
      path,
      headers: path === '/v1/heartbeat' ? heartbeatHeaders(token(), body, 'lobby@1.5.0#0') : { 'content-type': 'application/json' },
      body,
      chunked,
      expect: 413,
    };
  });
