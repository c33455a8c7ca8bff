import { createHash } from 'node:crypto';
import type { ListenAddress } from '../config/schema.js';
import type { Desired } from './desired.js';
import { MAP_NAMES, RULES_MARK, SLOTS_PER_SERVICE, slotBackend, type Layout, type MapName } from './layout.js';
import { frontendRules, hostPort, notServedBackendRules, quoted, routerBackendRules } from './rules.js';
import { desiredMaps } from './plan.js';

/**
 * The haproxy.cfg switchyard writes into `.switchyard/haproxy/`, and the
 * map files beside it. The config holds the rules (rules.ts: carriers,
 * router paths, the answers HAProxy gives itself) and one backend per
 * version slot; what changes with the policy lives in the maps and the
 * slots' servers, which the runtime API changes without a reload.
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

/** The router as HAProxy reaches it: a wildcard listen address is reached on loopback. */
function routerTarget(a: ListenAddress): string {
  if (a.host === '0.0.0.0') return `127.0.0.1:${a.port}`;
  if (a.host === '::') return `[::1]:${a.port}`;
  return hostPort(a);
}

/**
 * The part of the config that never changes with the policy: global,
 * defaults, and the rules (rules.ts). Its hash goes into
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
    ...frontendRules(s),
    '',
    ...routerBackendRules(s, routerTarget(s.router)),
    '',
    ...notServedBackendRules(s),
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
