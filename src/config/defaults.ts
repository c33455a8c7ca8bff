/**
 * The defaults of every config setting, in the form a person writes them.
 * One place, so the schema applies exactly what `init` renders and what the
 * docs promise.
 */
export const ROUTER_MODES = ['redirect', 'proxy'] as const;
export type RouterMode = (typeof ROUTER_MODES)[number];

/** Who carries the terminals' traffic: the router's own proxy, or a HAProxy the router steers (docs/haproxy.md). */
export const DATA_PLANES = ['builtin', 'haproxy'] as const;
export type DataPlaneKind = (typeof DATA_PLANES)[number];

export const LOGIN_POLICIES = ['force', 'allow'] as const;
export type LoginPolicy = (typeof LOGIN_POLICIES)[number];

export const CONFIG_DEFAULTS = {
  router: {
    listen: '127.0.0.1:7400',
    mode: 'redirect' as RouterMode,
    heartbeatInterval: '5s',
    staleAfter: 3,
    versionHeader: 'x-switchyard-version',
    serviceHeader: 'x-switchyard-service',
    maxBodyBytes: 64 * 1024,
    headersTimeout: '10s',
    requestTimeout: '60s',
    keepAliveTimeout: '5s',
    maxConnections: 10_000,
    maxConnectionsPerClient: 1000,
    dataPlane: 'builtin' as DataPlaneKind,
    haproxy: { listen: '127.0.0.1:8080', bin: 'haproxy' },
  },
  /** The state folder, relative to the folder of the config file. */
  state: '.switchyard',
  /** PM2_HOME for the local fleet, relative to the state folder. */
  pm2HomeInState: 'pm2',
  /** The host list when the config names none: this machine only. */
  hosts: { local: { address: '127.0.0.1' } } as Record<string, { address: string }>,
  /** With coordination.redis: the keys of one state start with `<prefix>:`. */
  coordination: { prefix: 'switchyard' },
  service: {
    hosts: ['local'],
    instances: 1,
    match: 'exact' as 'exact' | 'patch' | 'minor',
    login: 'force' as LoginPolicy,
    readinessTimeout: '30s',
    drainGrace: 2,
    drainTimeout: '30m',
    killTimeout: '5s',
  },
} as const;

/** What `init` offers when nobody answers. */
export const INIT_DEFAULTS = {
  script: 'releases/{version}/server.js',
  ports: '7500-7599',
  listen: CONFIG_DEFAULTS.router.listen,
} as const;

/** The file `init` writes. */
export const DEFAULT_CONFIG_FILE = 'switchyard.config.yaml';

/**
 * The environment variables that may override config settings, and the key
 * each one sets. Only these: the SWITCHYARD_* variables switchyard gives its
 * own processes (SWITCHYARD_SERVICE, _VERSION, _PROCESS, _ROUTER_URL, _TOKEN,
 * _HEARTBEAT_MS) must never change the config of a CLI run inside them.
 */
export const ENV_OVERRIDES = [
  { variable: 'SWITCHYARD_ROUTER_LISTEN', path: ['router', 'listen'], kind: 'value' },
  { variable: 'SWITCHYARD_ROUTER_MODE', path: ['router', 'mode'], kind: 'value' },
  { variable: 'SWITCHYARD_HEARTBEAT_INTERVAL', path: ['router', 'heartbeatInterval'], kind: 'value' },
  { variable: 'SWITCHYARD_STATE_DIR', path: ['state'], kind: 'path' },
  { variable: 'SWITCHYARD_PM2_HOME', path: ['pm2Home'], kind: 'path' },
  { variable: 'SWITCHYARD_REDIS_URL', path: ['coordination', 'redis'], kind: 'value' },
] as const;

/**
 * The longest unix socket path the kernel accepts (sun_path less its NUL):
 * 107 bytes on Linux, 103 on macOS and the BSDs. PM2 puts rpc.sock and
 * pub.sock inside PM2_HOME and fails obscurely when the path is longer.
 */
export const MAX_UNIX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;
