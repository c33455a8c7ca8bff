import { indexPolicy, matchKey, type ServiceIndex } from '../core/policy-index.js';
import type { Policy } from '../core/policy-schema.js';
import { list } from '../core/resolve-shared.js';

/**
 * What HAProxy should hold for one policy generation, before slots are
 * assigned: per service, the versions served and their servers, the keys
 * that route to each version, and the JSON bodies HAProxy answers itself.
 * Pure: the same routing the router does (core/policy-index.ts), written
 * as data HAProxy can look up.
 */

export type ServerState = 'ready' | 'drain';

export interface DesiredServer {
  /** Unique per destination within a slot: address and port. */
  name: string;
  address: string;
  port: number;
  /** ready: takes requests; drain: keeps its connections but gets no new ones (an active sibling exists, or it is down and a sibling is not). */
  state: ServerState;
}

export interface DesiredVersion {
  version: string;
  servers: DesiredServer[];
  /** The body of GET /v1/resolve for this version, as the router writes it. */
  resolve: string;
}

export interface DesiredService {
  name: string;
  versions: Map<string, DesiredVersion>;
  /** Route-map key suffixes ("=1.5.0", "~1.4-") → the version they route to. */
  routes: Map<string, string>;
  /** The 404 version_not_served body, split where the terminal's version goes. */
  notServed: { head: string; tail: string };
}

export interface Desired {
  generation: number;
  services: Map<string, DesiredService>;
  /** The service a request without a service header goes to (the only one), if any. */
  only: string | undefined;
}

/** Processes the router knows to be down (the reconcile loop's last look at PM2). */
export type IsDown = (processId: string) => boolean;

const NONE_DOWN: IsDown = () => false;

/** A server name HAProxy accepts (letters, digits, ".", "-", "_", ":"). */
export function serverName(address: string, port: number): string {
  return `${address.replace(/[^A-Za-z0-9._:-]/g, '_')}:${port}`;
}

const VERSION_SLOT = '\u0000version\u0000';

/** The router's 404 body (core/resolve-request.ts), cut around the terminal's version. */
function notServedBody(svc: ServiceIndex): { head: string; tail: string } {
  const served = svc.served;
  const message =
    served.length === 0
      ? `Service ${svc.name} serves no version right now, so version ${VERSION_SLOT} cannot be served: deploy a version first.`
      : `Service ${svc.name} does not serve version ${VERSION_SLOT} (match rule: ${svc.match}); it serves ${list(served)}. Log in again to be told which version to run.`;
  const text = JSON.stringify({ error: 'version_not_served', message, versions: [...served] });
  const at = text.indexOf(JSON.stringify(VERSION_SLOT).slice(1, -1));
  // Map files trim a value's edges: the spaces around the version are written as JSON escapes.
  const head = text.slice(0, at).replace(/ $/, '\\u0020');
  const tail = text.slice(at + JSON.stringify(VERSION_SLOT).length - 2).replace(/^ /, '\\u0020');
  return { head, tail };
}

function describeService(svc: ServiceIndex, down: IsDown): DesiredService {
  const versions = new Map<string, DesiredVersion>();
  const routes = new Map<string, string>();
  for (const [version, entry] of svc.versions) {
    // As core/resolve-shared.ts picks: a process known to be down is skipped while another of the pool is not.
    const live = entry.requestPool.filter((p) => !down(p.id));
    const pool = new Set(live.length > 0 ? live : entry.requestPool);
    const servers = entry.serving.map((p) => ({ name: serverName(p.address, p.port), address: p.address, port: p.port, state: (pool.has(p) ? 'ready' : 'drain') as ServerState }));
    const first = entry.requestPool.find((p) => pool.has(p))!;
    const resolve = JSON.stringify({ service: svc.name, version, address: first.address, port: first.port, process: first.id });
    versions.set(version, { version, servers, resolve });
    routes.set(`=${version}`, version);
  }
  if (svc.match !== 'exact') {
    // The same preference as findServing: the newest version still taking logins, else the newest draining one.
    for (const [key, entries] of svc.servingByKey) {
      routes.set(`~${key}`, (svc.activeByKey.get(key)?.[0] ?? entries[0]!).version);
    }
  }
  return { name: svc.name, versions, routes, notServed: notServedBody(svc) };
}

export function describePolicy(policy: Policy, down: IsDown = NONE_DOWN): Desired {
  const index = indexPolicy(policy);
  const services = new Map<string, DesiredService>();
  for (const [name, svc] of index.services) services.set(name, describeService(svc, down));
  return { generation: policy.generation, services, only: services.size === 1 ? [...services.keys()][0] : undefined };
}

/** The match key HAProxy computes from a terminal's version (see config-text.ts), for tests. */
export function routeKeyFor(match: 'exact' | 'patch' | 'minor', version: string): string {
  return match === 'exact' ? `=${version}` : `~${matchKey(match, version)}`;
}
