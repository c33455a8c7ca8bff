import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { CONFIG_DEFAULTS } from './defaults.js';
import { normaliseNotify, normaliseRollout } from './rollout-config.js';
import type { Config, HostConfig, ParsedConfig, ServiceConfig } from './schema.js';

/**
 * Turns the schema's output into the `Config` commands use: settings renamed
 * to say their unit (…Ms), and paths on this machine made absolute against
 * the config file's folder, so a command run from a subfolder finds the same
 * state folder as one run beside the config.
 */

/** A path on this machine: "~" and "~/x" are the home folder (as in a shell), relative paths hang off `dir`. */
export function resolveLocalPath(dir: string, input: string): string {
  if (input === '~') return homedir();
  if (input.startsWith('~/')) return join(homedir(), input.slice(2));
  return resolve(dir, input);
}

function host(name: string, raw: ParsedConfig['hosts'][string], dir: string, localPm2Home: string): HostConfig {
  const local = raw.ssh === undefined;
  // ssh expands "~" in -i itself, but a relative key path must not depend on the cwd of the command.
  const identityFile = raw.identityFile === undefined || raw.identityFile.startsWith('~') || isAbsolute(raw.identityFile)
    ? raw.identityFile
    : resolve(dir, raw.identityFile);
  return {
    name,
    address: raw.address,
    local,
    ssh: raw.ssh,
    port: raw.port,
    identityFile,
    sshOptions: raw.sshOptions ?? [],
    // A remote PM2_HOME is a path on that host: it is kept as written.
    pm2Home: local ? (raw.pm2Home === undefined ? localPm2Home : resolveLocalPath(dir, raw.pm2Home)) : raw.pm2Home,
    nodePath: raw.nodePath,
    pm2Path: raw.pm2Path,
  };
}

function service(name: string, raw: ParsedConfig['services'][string]): ServiceConfig {
  return {
    name,
    script: raw.script,
    cwd: raw.cwd,
    args: raw.args,
    env: raw.env,
    ports: raw.ports,
    hosts: raw.hosts,
    instances: raw.instances,
    match: raw.match,
    login: raw.login,
    readiness: { http: raw.readiness.http, timeoutMs: raw.readiness.timeout },
    drain: { grace: raw.drain.grace, timeoutMs: raw.drain.timeout, closeOverMs: raw.drain.closeOver },
    killTimeoutMs: raw.killTimeout,
    rollout: normaliseRollout(raw.rollout),
  };
}

export function normaliseConfig(parsed: ParsedConfig, dir: string): Config {
  const stateDir = resolveLocalPath(dir, parsed.state ?? CONFIG_DEFAULTS.state);
  const pm2Home = parsed.pm2Home === undefined ? join(stateDir, CONFIG_DEFAULTS.pm2HomeInState) : resolveLocalPath(dir, parsed.pm2Home);
  const { router } = parsed;
  return {
    router: {
      listen: router.listen,
      mode: router.mode,
      heartbeatIntervalMs: router.heartbeatInterval,
      staleAfter: router.staleAfter,
      versionHeader: router.versionHeader,
      serviceHeader: router.serviceHeader,
      maxBodyBytes: router.maxBodyBytes,
      headersTimeoutMs: router.headersTimeout,
      requestTimeoutMs: router.requestTimeout,
      keepAliveTimeoutMs: router.keepAliveTimeout,
      maxConnections: router.maxConnections,
      maxConnectionsPerClient: router.maxConnectionsPerClient,
      urls: router.url ?? [],
      dataPlane: router.dataPlane,
      haproxy: { listen: router.haproxy.listen, bin: router.haproxy.bin, threads: router.haproxy.threads, forwardFor: router.haproxy.forwardFor },
      proxy: { connectionsPerProcess: router.proxy.connectionsPerProcess, queueTimeoutMs: router.proxy.queueTimeout },
    },
    stateDir,
    pm2Home,
    hosts: Object.fromEntries(Object.entries(parsed.hosts).map(([name, raw]) => [name, host(name, raw, dir, pm2Home)])),
    services: Object.fromEntries(Object.entries(parsed.services).map(([name, raw]) => [name, service(name, raw)])),
    coordination: parsed.coordination === undefined ? undefined : { redis: parsed.coordination.redis, prefix: parsed.coordination.prefix },
    clockSkewMs: parsed.clockSkew,
    notify: normaliseNotify(parsed.notify, (path) => resolveLocalPath(dir, path)),
  };
}
