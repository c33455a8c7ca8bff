import { isAbsolute, join } from 'node:path';
import { MAX_UNIX_SOCKET_PATH_BYTES } from './defaults.js';
import type { Config } from './schema.js';

/**
 * Settings that are valid but will bite later. They are warnings, not
 * errors: the config still loads and commands that do not touch the
 * affected part keep working.
 */

/** The socket PM2 creates first inside PM2_HOME (pub.sock is no longer). */
export function pm2SocketPath(pm2Home: string): string {
  return join(pm2Home, 'rpc.sock');
}

/**
 * Whether PM2's rpc.sock inside `pm2Home` would exceed the unix socket path
 * limit (107 bytes on Linux, 103 on macOS). PM2 then fails to start its
 * daemon with an error that does not mention the path length.
 */
export function pm2SocketPathTooLong(pm2Home: string, limit = MAX_UNIX_SOCKET_PATH_BYTES): boolean {
  return Buffer.byteLength(pm2SocketPath(pm2Home), 'utf8') > limit;
}

function socketWarning(key: string, pm2Home: string): string {
  const socket = pm2SocketPath(pm2Home);
  return `${key}: PM2 will put its socket at ${socket} (${Buffer.byteLength(socket)} bytes), longer than the ${MAX_UNIX_SOCKET_PATH_BYTES} bytes a unix socket path may have, so PM2 will fail to start: set pm2Home to a shorter folder, like /tmp/switchyard-pm2 or ~/.switchyard-pm2.`;
}

export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const checked = new Set<string>();
  const check = (key: string, pm2Home: string | undefined): void => {
    // A remote "~/..." path's length is only known on that host.
    if (pm2Home === undefined || !isAbsolute(pm2Home) || checked.has(pm2Home)) return;
    checked.add(pm2Home);
    if (pm2SocketPathTooLong(pm2Home)) warnings.push(socketWarning(key, pm2Home));
  };
  check('pm2Home', config.pm2Home);
  for (const host of Object.values(config.hosts)) check(`hosts.${host.name}.pm2Home`, host.pm2Home);

  for (const service of Object.values(config.services)) {
    const size = service.ports.to - service.ports.from + 1;
    // A deploy starts the new version beside the old one, so each host needs room for both.
    if (size >= service.instances && size < 2 * service.instances) {
      warnings.push(
        `services.${service.name}.ports: ${size} port(s) fit only one version of ${service.instances} instance(s) per host, but a deploy runs the new version beside the old one: give at least ${2 * service.instances} ports, like ${service.ports.from}-${Math.min(65535, service.ports.from + Math.max(99, 2 * service.instances - 1))}.`,
      );
    }
  }
  return warnings;
}
