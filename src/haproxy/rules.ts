import type { ListenAddress } from '../config/schema.js';
import { mapFile, type MapName } from './layout.js';

/**
 * The routing rules of switchyard's HAProxy: the frontend and the two
 * backends of its own, written once per config and never changed with the
 * policy (what changes lives in the maps). DESIGN.md's semantics, ordered
 * for the busiest request: a proxied request whose version header names a
 * version of the only service exactly meets one regular expression (the
 * router's paths), one header test and one map lookup, and nothing else.
 *
 * The frontend has no http-request rules, since HAProxy runs all of those
 * on every request. It decides with use_backend rules only, which HAProxy
 * tries in order and stops at the first that matches; the full chain
 * (other carriers, several services, match keys, the 404) comes after the
 * fast path, so only a request that misses it pays for it. Rules of the
 * chain whose only job is to compute a variable (set-var inside the
 * condition) end in `{ always_false }`: they never select a backend.
 */

export interface RuleSettings {
  dir: string;
  listen: ListenAddress;
  versionHeader: string;
  serviceHeader: string;
  forwardFor: boolean;
}

// Strict semver (semver.org's pattern): only such versions get HAProxy's own 404; anything else goes to the router, which explains.
const SEMVER = String.raw`'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$'`;
// The match keys of core/policy-index.ts (matchKey): "major.minor-pre" and "major-pre". Written inside double quotes, so "$" is escaped from HAProxy's variable expansion.
const PATCH_KEY = String.raw`regsub('^([0-9]+[.][0-9]+)[.][0-9]+(-([^+]*))?([+].*)?\$','\1-\3')`;
const MINOR_KEY = String.raw`regsub('^([0-9]+)[.][0-9]+[.][0-9]+(-([^+]*))?([+].*)?\$','\1-\3')`;
/** The router's own paths (request-path.ts): everything under /v1/ and /ui/, and /metrics, /healthz, /ui exactly. One fetch, one match. */
const ROUTER_PATHS = '^/(v1/|ui/|metrics$|healthz$|ui$)';
const JSON_TYPE = `content-type "application/json; charset=utf-8" hdr cache-control no-store`;
const NEVER = '{ always_false }';

export function quoted(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

export function hostPort(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A double-quoted HAProxy string: backslash, quote and "$" (variable expansion) escaped. */
export function quotedJson(text: string): string {
  return `"${text.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

export function frontendRules(s: RuleSettings): string[] {
  const map = (name: MapName) => quoted(mapFile(s.dir, name));
  const ver = `req.fhdr(${s.versionHeader},1)`;
  const svc = `req.fhdr(${s.serviceHeader},1)`;
  const byKey = (key: string) => `use_backend %[var(txn.be)] if { "var(txn.ver),${key},set-var(txn.pk)" -m found } { var(txn.svc),concat(|~,txn.pk),map(${map('route')}),set-var(txn.be) -m found }`;
  return [
    'frontend switchyard',
    `  bind ${hostPort(s.listen)}`,
    // X-Forwarded-For costs a header on every request: only when router.haproxy.forwardFor asks for it.
    ...(s.forwardFor ? ['  option forwardfor'] : []),
    // The router's paths, /v1/resolve among them (answered in that backend from the maps).
    `  use_backend switchyard_router if { path_reg ${ROUTER_PATHS} }`,
    // The fast path: the version header names a version of the only service exactly (only.map is empty with several
    // services). The header wins over the other carriers, so nothing else needs to be read.
    `  use_backend %[var(txn.be)] if !{ ${svc} -m len gt 0 } { ${ver},map(${map('only')}),set-var(txn.be) -m found }`,
    // The carriers, in DESIGN.md's order: service header, else the only service; version header, query parameter, cookie.
    `  use_backend switchyard_router if { ${svc},set-var(txn.svc) -m found } ${NEVER}`,
    `  use_backend switchyard_router if !{ var(txn.svc) -m len gt 0 } { str(*),map(${map('svc')}),set-var(txn.svc) -m found } ${NEVER}`,
    `  use_backend switchyard_router if { ${ver},set-var(txn.ver) -m found } ${NEVER}`,
    `  use_backend switchyard_router if !{ var(txn.ver) -m found } { url_param(switchyard-version),url_dec,set-var(txn.ver) -m found } ${NEVER}`,
    `  use_backend switchyard_router if !{ var(txn.ver) -m found } { req.cook(switchyard-version),url_dec,set-var(txn.ver) -m found } ${NEVER}`,
    `  use_backend %[var(txn.be)] if { var(txn.svc),concat(|=,txn.ver),map(${map('route')}),set-var(txn.be) -m found }`,
    // Not an exact version. A malformed one (or none) goes to the router, which explains; a well-formed one is looked
    // up by its match keys (only patch and minor services have such entries) and is otherwise answered 404 here.
    `  use_backend switchyard_router if !{ var(txn.ver) -m reg ${SEMVER} }`,
    `  ${byKey(PATCH_KEY)}`,
    `  ${byKey(MINOR_KEY)}`,
    `  use_backend switchyard_not_served if { var(txn.svc),map(${map('nsvhead')}),set-var(txn.nsv) -m found }`,
    // An unknown service, or several services and no service header: the router answers with its own error.
    '  default_backend switchyard_router',
  ];
}

/** The router's paths: GET /v1/resolve answered from the maps, /metrics kept to the router's rule, the rest forwarded. */
export function routerBackendRules(s: RuleSettings, router: string): string[] {
  const map = (name: MapName) => quoted(mapFile(s.dir, name));
  const unauthorized = JSON.stringify({ error: 'unauthorized', message: 'Metrics are open on loopback only; from elsewhere sign the request with the CLI key (docs/signing.md).' });
  const answer = `http-request return status 200 ${JSON_TYPE} lf-string "%[var(txn.be),map(${mapFile(s.dir, 'resolve')})]"`;
  const resolving = 'sy_resolve !sy_routed';
  return [
    'backend switchyard_router',
    '  acl sy_resolve path /v1/resolve',
    '  acl sy_get method GET',
    '  acl sy_routed var(txn.be) -m found',
    // GET /v1/resolve, the busiest read: one rule, one lookup of "service|=version". A miss (no service parameter,
    // a match key, an unserved version, bad input) goes on through resolve's own chain below.
    `  ${answer} if sy_resolve sy_get { url_param(version),url_dec,set-var(txn.ver) -m found } { url_param(service),url_dec,concat(|=,txn.ver),map(${map('route')}),set-var(txn.be) -m found }`,
    `  http-request set-var(txn.svc) url_param(service),url_dec if ${resolving}`,
    `  http-request set-var(txn.svc) str(*),map(${map('svc')}) if ${resolving} !{ var(txn.svc) -m len gt 0 }`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|=,txn.ver),map(${map('route')}) if ${resolving}`,
    `  http-request set-var(txn.semver) bool(true) if ${resolving} { var(txn.ver) -m reg ${SEMVER} }`,
    '  acl sy_semver var(txn.semver) -m found',
    `  http-request set-var(txn.pk) "var(txn.ver),${PATCH_KEY}" if ${resolving} sy_semver`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|~,txn.pk),map(${map('route')}) if ${resolving} sy_semver`,
    `  http-request set-var(txn.pk) "var(txn.ver),${MINOR_KEY}" if ${resolving} sy_semver`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|~,txn.pk),map(${map('route')}) if ${resolving} sy_semver`,
    `  http-request set-var(txn.nsv) var(txn.svc),map(${map('nsvhead')}) if ${resolving} sy_semver`,
    `  ${answer} if sy_resolve sy_get sy_routed`,
    `  http-request return status 404 ${JSON_TYPE} lf-string "${notServedBody(s)}" if sy_resolve sy_get { var(txn.nsv) -m found }`,
    // Metrics through HAProxy come from HAProxy's loopback address: keep the router's rule (loopback, or signed; the router checks the signature).
    `  http-request return status 401 ${JSON_TYPE} string ${quotedJson(unauthorized)} if { path /metrics } !{ src 127.0.0.0/8 ::1 } !{ req.hdr(x-switchyard-signature) -m found }`,
    // Never true: it only makes HAProxy load the slot map, so the runtime API can write to it.
    `  http-request set-var(txn.slot) str(-),map(${map('slot')}) if ${NEVER}`,
    `  server router ${router}`,
  ];
}

/** A well-formed version the service does not serve: the router's own 404 body, the version put in where the maps cut it. */
export function notServedBackendRules(s: RuleSettings): string[] {
  return ['backend switchyard_not_served', `  http-request return status 404 ${JSON_TYPE} lf-string "${notServedBody(s)}"`];
}

function notServedBody(s: RuleSettings): string {
  return `%[var(txn.nsv)]%[var(txn.ver)]%[var(txn.svc),map(${mapFile(s.dir, 'nsvtail')})]`;
}
