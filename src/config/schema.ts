import { z } from 'zod';
import { ADDRESS, HOST_NAME, SERVICE_NAME } from '../core/names.js';
import { MATCH_RULES, type MatchRule } from '../core/version.js';
import { parseRedisUrl, REDIS_URL_EXPECTED } from './redis-url.js';
import { notifySection, notifyShape, rolloutKeysAt, rolloutSection, type NotifyTarget, type RolloutConfig } from './rollout-config.js';
import { CONFIG_DEFAULTS, DATA_PLANES, LOGIN_POLICIES, ROUTER_MODES, type DataPlaneKind, type LoginPolicy, type RouterMode } from './defaults.js';
import {
  durationMs, ENV_KEY, headerName, isReservedEnvKey, listenAddress, mapping, plainString, portRange, remotePath, routerUrls,
  section, SSH_TARGET, sshOption, versionTemplate, wholeNumber, type ListenAddress, type PortRange,
} from './fields.js';

export type { ListenAddress, PortRange, RouterMode, LoginPolicy, DataPlaneKind };
export type { AnalysisConfig, NotifyTarget, PrometheusConfig, RolloutConfig } from './rollout-config.js';

/**
 * The config as commands use it: every default applied, durations in
 * milliseconds, port ranges as {from, to}, paths absolute. Built by
 * loadConfig from `configSchema`'s output (see normalise.ts).
 */
export interface Config {
  router: RouterConfig;
  /** Absolute state folder (policy.json, history/, token). */
  stateDir: string;
  /** Absolute PM2_HOME for the local fleet. */
  pm2Home: string;
  hosts: Record<string, HostConfig>;
  services: Record<string, ServiceConfig>;
  /** Several routers sharing one policy through Redis; undefined: the policy lives in files (the default). */
  coordination: CoordinationConfig | undefined;
  /** How far the clocks of the machines running switchyard may disagree (docs/control-plane.md, "Claims and clocks"). */
  clockSkewMs: number;
  /** Webhooks told of every rollout transition, deploy, promote, rollback and retire; empty: none. */
  notify: NotifyTarget[];
}

export interface CoordinationConfig {
  /** The Redis URL, password included: print it only through redactUrl. */
  redis: string;
  /** Every key this state uses starts with `<prefix>:` (docs/several-routers.md). */
  prefix: string;
}

export interface RouterConfig {
  listen: ListenAddress;
  mode: RouterMode;
  heartbeatIntervalMs: number;
  /** Missed heartbeat intervals after which a process counts as stale. */
  staleAfter: number;
  /** Lower-cased header names. */
  versionHeader: string;
  serviceHeader: string;
  maxBodyBytes: number;
  /** A client must send its whole request head within this; then its socket is destroyed. */
  headersTimeoutMs: number;
  /** A client must send its whole request, body included, within this; then its socket is destroyed. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open client connections in all; beyond it new ones are closed at once. */
  maxConnections: number;
  /** Open client connections from one address; beyond it that address's new ones are closed at once. */
  maxConnectionsPerClient: number;
  /**
   * The routers processes send heartbeats to, on every host, in the order
   * they are tried (no trailing "/"). Empty: derived from `listen`, which
   * only works for processes on this machine.
   */
  urls: string[];
  dataPlane: DataPlaneKind;
  /** Used when dataPlane is haproxy. */
  haproxy: HaproxyConfig;
  /** The built-in proxy's bounds per process. */
  proxy: { connectionsPerProcess: number; queueTimeoutMs: number };
}

export interface HaproxyConfig {
  /** Where HAProxy listens for terminals. */
  listen: ListenAddress;
  /** The haproxy executable (a name looked up on PATH, or a path). */
  bin: string;
  /** HAProxy's nbthread; undefined lets HAProxy use one per core. */
  threads: number | undefined;
  /** Add X-Forwarded-For to proxied requests; undefined (the default) is off: the header costs time on every request. */
  forwardFor: boolean | undefined;
}

export interface HostConfig {
  name: string;
  /** Where terminals are sent (host name or IP). */
  address: string;
  /** True when the host has no `ssh`: it is this machine, driven through the PM2 API. */
  local: boolean;
  /** "user@host" or "host"; undefined on local hosts. */
  ssh: string | undefined;
  /** ssh port; undefined means ssh's own default. */
  port: number | undefined;
  /** Absolute (or "~/...") path of the ssh key on this machine. */
  identityFile: string | undefined;
  /** ssh -o options, "Key=Value". */
  sshOptions: string[];
  /** PM2_HOME on that host: always set on local hosts (the config's pm2Home unless overridden); undefined on a remote host means its user's default. */
  pm2Home: string | undefined;
  nodePath: string | undefined;
  pm2Path: string | undefined;
}

export interface ServiceConfig {
  name: string;
  /** The script PM2 starts; "{version}" is replaced by the version. Relative paths are as written. */
  script: string;
  cwd: string | undefined;
  args: string[];
  env: Record<string, string>;
  ports: PortRange;
  hosts: string[];
  /** Processes per version per host. */
  instances: number;
  match: MatchRule;
  login: LoginPolicy;
  readiness: { http: string | undefined; timeoutMs: number };
  /** closeOverMs: at the drain deadline, the process's WebSocket sessions are closed evenly over this. */
  drain: { grace: number; timeoutMs: number; closeOverMs: number };
  killTimeoutMs: number;
  /** Progressive rollouts: the configured plan (if any) and how each interval is judged. */
  rollout: RolloutConfig;
}

const D = CONFIG_DEFAULTS;

export const haproxyShape = {
  listen: listenAddress.prefault(D.router.haproxy.listen),
  bin: plainString('the haproxy executable, like haproxy or /usr/sbin/haproxy').prefault(D.router.haproxy.bin),
  threads: wholeNumber(1, 64).optional(),
  forwardFor: z.boolean({ error: 'true or false' }).optional(),
};

export const proxyShape = {
  connectionsPerProcess: wholeNumber(1, 100_000).default(D.router.proxy.connectionsPerProcess),
  queueTimeout: durationMs.prefault(D.router.proxy.queueTimeout),
};

export const routerShape = {
  listen: listenAddress.prefault(D.router.listen),
  mode: z.enum(ROUTER_MODES, { error: 'redirect or proxy' }).default(D.router.mode),
  heartbeatInterval: durationMs.prefault(D.router.heartbeatInterval),
  staleAfter: wholeNumber(1, 1000).default(D.router.staleAfter),
  versionHeader: headerName.prefault(D.router.versionHeader),
  serviceHeader: headerName.prefault(D.router.serviceHeader),
  maxBodyBytes: wholeNumber(1, 2 ** 31 - 1).default(D.router.maxBodyBytes),
  headersTimeout: durationMs.prefault(D.router.headersTimeout),
  requestTimeout: durationMs.prefault(D.router.requestTimeout),
  keepAliveTimeout: durationMs.prefault(D.router.keepAliveTimeout),
  maxConnections: wholeNumber(1, 1_000_000).default(D.router.maxConnections),
  maxConnectionsPerClient: wholeNumber(1, 1_000_000).default(D.router.maxConnectionsPerClient),
  url: routerUrls.optional(),
  dataPlane: z.enum(DATA_PLANES, { error: 'builtin or haproxy' }).default(D.router.dataPlane),
  haproxy: section(mapping(haproxyShape, 'a mapping like {listen: 0.0.0.0:8080, bin: haproxy}').prefault({})),
  proxy: section(mapping(proxyShape, 'a mapping like {connectionsPerProcess: 256, queueTimeout: 5s}').prefault({})),
};

export const hostShape = {
  address: z.string({ error: 'a host name or IP address terminals can reach, like 127.0.0.1 or edge-1.example.com' })
    .regex(ADDRESS, { error: 'a host name or IP address like 127.0.0.1 or edge-1.example.com (IPv6 without brackets)' }),
  ssh: z.string({ error: 'an ssh target like deploy@edge-1.internal' })
    .regex(SSH_TARGET, { error: 'an ssh target "user@host" or "host", like deploy@edge-1.internal (no spaces or shell characters, not starting with "-")' })
    .optional(),
  port: wholeNumber(1, 65535).optional(),
  identityFile: plainString('the path of an ssh key file, like ~/.ssh/deploy_ed25519')
    .refine((s) => !s.startsWith('-'), { error: 'the path of an ssh key file, not starting with "-"' }).optional(),
  sshOptions: z.array(sshOption, { error: 'a list of ssh options, like [StrictHostKeyChecking=accept-new]' }).optional(),
  pm2Home: remotePath('a PM2_HOME folder like /srv/switchyard/pm2').optional(),
  nodePath: remotePath('the node executable on that host, like /usr/bin/node').optional(),
  pm2Path: remotePath('the pm2 executable on that host, like /usr/local/bin/pm2').optional(),
};

const envKey = z.string()
  .regex(ENV_KEY, { error: 'an environment variable name: letters, digits and "_", not starting with a digit' })
  .refine((k) => !isReservedEnvKey(k), { error: 'a variable other than PORT and SWITCHYARD_*: switchyard sets those for every process' });
const envValue = z.union([z.string(), z.number()], { error: 'a string (a number is turned into one)' }).transform(String);

export const readinessShape = {
  http: z.string({ error: 'an HTTP path like /healthz' })
    .regex(/^\/[^\s\u0000-\u001f\u007f]{0,2047}$/, { error: 'an HTTP path starting with "/", like /healthz' }).optional(),
  timeout: durationMs.prefault(D.service.readinessTimeout),
};

export const drainShape = {
  grace: wholeNumber(1, 1000).default(D.service.drainGrace),
  timeout: durationMs.prefault(D.service.drainTimeout),
  closeOver: durationMs.prefault(D.service.drainCloseOver),
};

export const serviceShape = {
  script: versionTemplate('the script PM2 starts, like releases/{version}/server.js'),
  cwd: versionTemplate('the working folder, like releases/{version}').optional(),
  args: z.array(z.union([z.string(), z.number()]).transform(String), { error: 'a list of arguments, like [--verbose]' }).default([]),
  env: section(z.record(envKey, envValue, { error: (iss) => (iss.code === 'invalid_type' ? 'a mapping of variable names to values, like {NODE_ENV: production}' : undefined) }).default({})),
  ports: portRange,
  hosts: z.array(z.string({ error: 'a host name' }), { error: 'a list of host names from hosts, like [local]' })
    .min(1, { error: 'a list of at least one host name from hosts, like [local]' }).default([...D.service.hosts]),
  instances: wholeNumber(1, 1000).default(D.service.instances),
  match: z.enum(MATCH_RULES as unknown as ['exact', 'patch', 'minor'], { error: 'exact, patch or minor' }).default(D.service.match),
  login: z.enum(LOGIN_POLICIES, { error: 'force or allow' }).default(D.service.login),
  readiness: section(mapping(readinessShape, 'a mapping like {http: /healthz, timeout: 30s}').prefault({})),
  drain: section(mapping(drainShape, 'a mapping like {grace: 2, timeout: 30m, closeOver: 10s}').prefault({})),
  killTimeout: durationMs.prefault(D.service.killTimeout),
  rollout: rolloutSection,
};

export const coordinationShape = {
  redis: z.string({ error: REDIS_URL_EXPECTED }).refine((url) => parseRedisUrl(url).ok, { error: REDIS_URL_EXPECTED }),
  prefix: z.string({ error: 'a key prefix of letters, digits, ".", "-", "_" and ":", like switchyard:shop' })
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: 'a key prefix of letters, digits, ".", "-", "_" and ":" (at most 64), like switchyard:shop' })
    .default(D.coordination.prefix),
};

export const configShape = {
  router: section(mapping(routerShape, 'a mapping of router settings, like {listen: 127.0.0.1:7400}').prefault({})),
  state: plainString('a folder for the policy and token, like .switchyard').optional(),
  pm2Home: plainString('a folder for PM2_HOME, like .switchyard/pm2').optional(),
  hosts: section(z.record(
    z.string().regex(HOST_NAME, { error: 'a host name of letters, digits, ".", "-" and "_" (at most 64, starting with a letter or digit)' }),
    mapping(hostShape, 'a mapping like {address: 127.0.0.1} or {ssh: deploy@edge-1, address: edge-1.example.com}'),
    { error: (iss) => (iss.code === 'invalid_type' ? 'a mapping of host names to host settings' : undefined) },
  ).prefault(D.hosts)),
  services: section(z.record(
    z.string().regex(SERVICE_NAME, { error: 'a service name of letters, digits, "-" and "_" (at most 64, starting with a letter or digit)' }),
    mapping(serviceShape, 'a mapping of service settings, like {script: releases/{version}/server.js, ports: 7500-7599}'),
    { error: (iss) => (iss.code === 'invalid_type' ? 'a mapping of service names to service settings' : undefined) },
  ).prefault({})),
  coordination: mapping(coordinationShape, 'a mapping like {redis: redis://127.0.0.1:6379/0}').optional(),
  clockSkew: durationMs.prefault(D.clockSkew),
  notify: notifySection,
};

/** The raw config as written (after allow-listed environment overrides). */
export const configSchema = mapping(configShape, 'a mapping with the keys router, state, pm2Home, hosts, services, coordination, clockSkew and notify');

export type ParsedConfig = z.output<typeof configSchema>;

/** The keys an object at `path` may hold, for "did you mean" hints on unknown keys. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  const [first, , third] = path;
  if (path.length === 0) return Object.keys(configShape);
  if (first === 'router' && path.length === 1) return Object.keys(routerShape);
  if (first === 'coordination' && path.length === 1) return Object.keys(coordinationShape);
  if (first === 'router' && path.length === 2 && path[1] === 'haproxy') return Object.keys(haproxyShape);
  if (first === 'router' && path.length === 2 && path[1] === 'proxy') return Object.keys(proxyShape);
  if (first === 'hosts' && path.length === 2) return Object.keys(hostShape);
  if (first === 'services' && path.length === 2) return Object.keys(serviceShape);
  if (first === 'services' && path.length === 3 && third === 'readiness') return Object.keys(readinessShape);
  if (first === 'services' && path.length === 3 && third === 'drain') return Object.keys(drainShape);
  if (first === 'services' && third === 'rollout') return rolloutKeysAt(path.slice(2));
  if (first === 'notify' && path.length === 2) return Object.keys(notifyShape);
  return [];
}
