import { createHash } from 'node:crypto';
import type { ListenAddress } from '../config/schema.js';
import type { Desired } from './desired.js';
import { mapFile, MAP_NAMES, RULES_MARK, SLOTS_PER_SERVICE, slotBackend, type Layout, type MapName } from './layout.js';
import { desiredMaps } from './plan.js';

/**
 * The haproxy.cfg switchyard writes into `.switchyard/haproxy/`, and the
 * map files beside it. The config holds the rules (carriers, router paths,
 * the answers HAProxy gives itself) and one backend per version slot;
 * what changes with the policy lives in the maps and the slots' servers,
 * which the runtime API changes without a reload.
 */

export interface HaproxySettings {
  /** The folder for the config, maps, admin socket, pid file and log. */
  dir: string;
  listen: ListenAddress;
  threads: number | undefined;
  /** Where the router listens: its own endpoints are forwarded there. */
  router: ListenAddress;
  versionHeader: string;
  serviceHeader: string;
  /** Adds X-Forwarded-For to proxied requests (router.haproxy.forwardFor). */
  forwardFor: boolean;
}

/** Slots for a fresh config: every served version bound in order, with room to spare. */
export function freshLayout(desired: Desired): Layout {
  const slots = new Map<string, number>();
  const bindings = new Map<string, string>();
  for (const svc of desired.services.values()) {
    const versions = [...svc.versions.keys()];
    slots.set(svc.name, Math.max(SLOTS_PER_SERVICE, versions.length * 2));
    versions.forEach((v, i) => bindings.set(slotBackend(svc.name, i), v));
  }
  return { slots, bindings };
}

// Strict semver (semver.org's pattern): only such versions get HAProxy's own 404; anything else goes to the router, which explains.
const SEMVER = String.raw`'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$'`;
// The match keys of core/policy-index.ts (matchKey): "major.minor-pre" and "major-pre". "$" is escaped from HAProxy's variable expansion.
const PATCH_KEY = String.raw`regsub('^([0-9]+[.][0-9]+)[.][0-9]+(-([^+]*))?([+].*)?\$','\1-\3')`;
const MINOR_KEY = String.raw`regsub('^([0-9]+)[.][0-9]+[.][0-9]+(-([^+]*))?([+].*)?\$','\1-\3')`;

function quoted(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

function hostPort(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The router as HAProxy reaches it: a wildcard listen address is reached on loopback. */
function routerTarget(a: ListenAddress): string {
  if (a.host === '0.0.0.0') return `127.0.0.1:${a.port}`;
  if (a.host === '::') return `[::1]:${a.port}`;
  return hostPort(a);
}

const JSON_TYPE = `content-type "application/json; charset=utf-8" hdr cache-control no-store`;

function frontend(s: HaproxySettings): string[] {
  const map = (name: MapName) => quoted(mapFile(s.dir, name));
  const unauthorized = JSON.stringify({ error: 'unauthorized', message: 'Metrics are open on loopback only; from elsewhere sign the request with the CLI key (docs/signing.md).' });
  const resolveAnswer = `http-request return status 200 ${JSON_TYPE} lf-string "%[var(txn.be),map(${mapFile(s.dir, 'resolve')})]"`;
  // Every rule below the fast path starts with this: a request already routed skips each at its first test.
  const slow = '!sy_routed';
  return [
    'frontend switchyard',
    `  bind ${hostPort(s.listen)}`,
    // X-Forwarded-For costs a header on every request: only when router.haproxy.forwardFor asks for it.
    ...(s.forwardFor ? ['  option forwardfor'] : []),
    '  acl sy_resolve path /v1/resolve',
    '  acl sy_get method GET',
    '  acl sy_router_path path_beg /v1/ /ui/',
    '  acl sy_router_path path /metrics /healthz /ui',
    '  acl sy_routed var(txn.be) -m found',
    // GET /v1/resolve first, and only for its path: the version parameter, one route lookup for "service|=version",
    // and the answer from the resolve map. Anything else (no or an empty service parameter, a match key, an unserved
    // version, bad input) falls through to the full chain below, which also sees txn.ver.
    '  http-request set-var(txn.ver) url_param(version),url_dec if sy_resolve',
    `  ${resolveAnswer} if sy_resolve sy_get { url_param(service),url_dec,concat(|=,txn.ver),map(${map('route')}),set-var(txn.be) -m found }`,
    // The fast path, one lookup: the version header names a version of the only service exactly (only.map is empty
    // with several services). The header wins over the other carriers, so nothing else needs to be read.
    `  http-request set-var(txn.be) req.fhdr(${s.versionHeader},1),map(${map('only')}) if !sy_resolve !{ req.fhdr(${s.serviceHeader},1) -m found }`,
    // The carriers, in DESIGN.md's order; /v1/resolve takes its own query parameters.
    `  http-request set-var(txn.svc) req.fhdr(${s.serviceHeader},1) if ${slow} !sy_resolve`,
    `  http-request set-var(txn.svc) url_param(service),url_dec if ${slow} sy_resolve`,
    `  http-request set-var(txn.svc) str(*),map(${map('svc')}) if ${slow} !{ var(txn.svc) -m len gt 0 }`,
    `  http-request set-var(txn.ver) req.fhdr(${s.versionHeader},1) if ${slow} !sy_resolve`,
    `  http-request set-var(txn.ver) url_param(switchyard-version),url_dec if ${slow} !sy_resolve !{ var(txn.ver) -m found }`,
    `  http-request set-var(txn.ver) req.cook(switchyard-version),url_dec if ${slow} !sy_resolve !{ var(txn.ver) -m found }`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|=,txn.ver),map(${map('route')}) if ${slow}`,
    // Not an exact version: only a well-formed one is looked up by its match keys or answered 404 here; the regular
    // expression runs once, and anything else goes to the router, which explains.
    `  http-request set-var(txn.semver) bool(true) if ${slow} { var(txn.ver) -m reg ${SEMVER} }`,
    '  acl sy_semver var(txn.semver) -m found',
    `  http-request set-var(txn.pk) "var(txn.ver),${PATCH_KEY}" if ${slow} sy_semver`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|~,txn.pk),map(${map('route')}) if ${slow} sy_semver`,
    `  http-request set-var(txn.pk) "var(txn.ver),${MINOR_KEY}" if ${slow} sy_semver`,
    `  http-request set-var(txn.be) var(txn.svc),concat(|~,txn.pk),map(${map('route')}) if ${slow} sy_semver`,
    `  http-request set-var(txn.nsv) var(txn.svc),map(${map('nsvhead')}) if ${slow} sy_semver`,
    // Never true: it only makes HAProxy load the slot map, so the runtime API can write to it.
    `  http-request set-var(txn.slot) str(-),map(${map('slot')}) if { always_false }`,
    // Metrics through HAProxy come from HAProxy's loopback address: keep the router's rule (loopback, or signed; the router checks the signature).
    `  http-request return status 401 ${JSON_TYPE} string ${quotedJson(unauthorized)} if { path /metrics } !{ src 127.0.0.0/8 ::1 } !{ req.hdr(x-switchyard-signature) -m found }`,
    `  ${resolveAnswer} if sy_resolve sy_get sy_routed`,
    `  http-request return status 404 ${JSON_TYPE} lf-string "%[var(txn.nsv)]%[var(txn.ver)]%[var(txn.svc),map(${mapFile(s.dir, 'nsvtail')})]" if { var(txn.nsv) -m found } !sy_router_path or { var(txn.nsv) -m found } sy_resolve sy_get`,
    '  use_backend switchyard_router if sy_router_path',
    '  use_backend %[var(txn.be)] if sy_routed',
    // No version, a malformed one or an unknown service: the router answers with its own error.
    '  default_backend switchyard_router',
  ];
}

/** A double-quoted HAProxy string: backslash, quote and "$" (variable expansion) escaped. */
export function quotedJson(text: string): string {
  return `"${text.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/**
 * The part of the config that never changes with the policy: global,
 * defaults, the frontend and the router's backend. Its hash goes into
 * HAProxy's description, so a router finds out whether a running HAProxy
 * was loaded with these rules (an upgrade of switchyard, a changed
 * router.haproxy, a config someone else wrote) and reloads it if not.
 */
function rules(s: HaproxySettings): { lines: string[]; fingerprint: string } {
  const body = [
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 5s',
    '  timeout tunnel 1h',
    '  timeout client-fin 5s',
    // A process that died since the last pass refuses the connection: try another server of its version at once.
    '  retries 2',
    '  option redispatch 1',
    '',
    ...frontend(s),
    '',
    'backend switchyard_router',
    `  server router ${routerTarget(s.router)}`,
  ];
  const global = [
    'global',
    '  master-worker',
    `  stats socket ${quoted(`${s.dir}/admin.sock`)} mode 600 level admin expose-fd listeners`,
    ...(s.threads === undefined ? [] : [`  nbthread ${s.threads}`]),
  ];
  const fingerprint = createHash('sha256').update([...global, ...body].join('\n')).digest('hex').slice(0, 16);
  return { lines: [...global, `  description ${RULES_MARK} ${fingerprint}`, '', ...body], fingerprint };
}

/** The fingerprint of the rules a config written now would hold. */
export function rulesFingerprint(s: HaproxySettings): string {
  return rules(s).fingerprint;
}

export function configText(s: HaproxySettings, desired: Desired, layout: Layout): string {
  const lines = ['# Written by switchyard for its HAProxy data plane, and kept in step with what it applies at run time (docs/haproxy.md).', ...rules(s).lines];
  for (const svc of desired.services.values()) {
    for (let i = 0; i < (layout.slots.get(svc.name) ?? SLOTS_PER_SERVICE); i++) {
      const backend = slotBackend(svc.name, i);
      lines.push('', `backend ${backend}`, '  balance roundrobin');
      const version = layout.bindings.get(backend);
      for (const server of version === undefined ? [] : (svc.versions.get(version)?.servers ?? [])) {
        // A draining server is written ready and set to drain by the next pass (a weight 0 here would outlive a later `state ready`).
        lines.push(`  server ${server.name} ${server.address}:${server.port}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The map files for a layout: exactly what the applier sets. */
export function mapFilesText(desired: Desired, layout: Layout): Record<MapName, string> {
  const maps = desiredMaps(desired, layout.bindings);
  return Object.fromEntries(MAP_NAMES.map((name) => [name, [...maps[name]].map(([k, v]) => `${k} ${v}\n`).join('')])) as Record<MapName, string>;
}
