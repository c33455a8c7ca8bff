import type { Config, PortRange } from './schema.js';
import type { RawProblem } from './problems.js';

/**
 * Checks that span several settings, run on the normalised config once each
 * setting is valid on its own: host references, port ranges that two
 * services (or a service and the router) would fight over, and ssh settings
 * on a host that has no ssh.
 */

const LOCAL_MACHINE = 'this machine';

function showRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

function overlaps(a: PortRange, b: PortRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/**
 * The machine a host runs on. Every host without ssh is this machine, so
 * their port ranges collide even under different host names.
 */
function machineOf(config: Config, hostName: string): string {
  const host = config.hosts[hostName];
  return host === undefined || host.local ? LOCAL_MACHINE : `host ${hostName}`;
}

function checkHostReferences(config: Config, raw: unknown, problems: RawProblem[]): void {
  const defined = Object.keys(config.hosts);
  const rawServices = (raw as { services?: Record<string, { hosts?: unknown }> } | null)?.services;
  for (const service of Object.values(config.services)) {
    const usedDefault = rawServices?.[service.name]?.hosts === undefined;
    const seen = new Set<string>();
    service.hosts.forEach((name, i) => {
      const list = defined.length > 0 ? defined.join(', ') : 'none are defined';
      if (!Object.hasOwn(config.hosts, name)) {
        problems.push({
          path: usedDefault ? ['services', service.name, 'hosts'] : ['services', service.name, 'hosts', i],
          found: usedDefault ? `nothing (so the default [${name}])` : JSON.stringify(name),
          expected: `names of hosts defined under hosts (${list})`,
        });
      } else if (seen.has(name)) {
        problems.push({ path: ['services', service.name, 'hosts', i], expected: `each host once (${name} is listed twice)` });
      }
      seen.add(name);
    });
  }
}

function checkPortRanges(config: Config, raw: unknown, problems: RawProblem[]): void {
  // Per machine, the ranges seen so far, so each overlap is reported once, at the later service.
  const taken = new Map<string, { service: string; ports: PortRange }[]>();
  for (const service of Object.values(config.services)) {
    const machines = new Set(service.hosts.filter((h) => Object.hasOwn(config.hosts, h)).map((h) => machineOf(config, h)));
    const clashes = new Set<string>();
    for (const machine of machines) {
      const list = taken.get(machine) ?? [];
      for (const other of list) {
        if (overlaps(other.ports, service.ports)) clashes.add(`services.${other.service}.ports (${showRange(other.ports)}) on ${machine}`);
      }
      list.push({ service: service.name, ports: service.ports });
      taken.set(machine, list);
    }
    if (clashes.size > 0) {
      problems.push({ path: ['services', service.name, 'ports'], expected: `a range that does not overlap ${[...clashes].join(', ')}` });
    }
    if (service.instances > service.ports.to - service.ports.from + 1) {
      problems.push({
        path: ['services', service.name, 'ports'],
        expected: `a range with at least ${service.instances} ports, one per instance (instances: ${service.instances})`,
      });
    }
  }
  const { host, port } = config.router.listen;
  // Without a listen key the clash is with the default, which the file does not show: say so.
  const written = (raw as { router?: { listen?: unknown } } | null)?.router?.listen;
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  for (const other of taken.get(LOCAL_MACHINE) ?? []) {
    if (port >= other.ports.from && port <= other.ports.to) {
      problems.push({
        path: ['router', 'listen'],
        ...(written === undefined ? { found: `nothing (so the default ${shown})` } : {}),
        expected: `a port outside services.${other.service}.ports (${showRange(other.ports)}), which processes on this machine use`,
      });
    }
  }
}

function checkLocalHosts(config: Config, problems: RawProblem[]): void {
  for (const host of Object.values(config.hosts)) {
    if (!host.local) continue;
    const sshOnly = (['port', 'identityFile', 'sshOptions'] as const).filter((key) => key === 'sshOptions' ? host.sshOptions.length > 0 : host[key] !== undefined);
    for (const key of sshOnly) {
      problems.push({
        path: ['hosts', host.name, key],
        expected: `no ${key} on a host without ssh (a host without ssh is this machine): add ssh: user@host, or remove ${key}`,
      });
    }
  }
}

/** HAProxy's listener must not take the router's port or a port processes on this machine use. */
function checkHaproxyListen(config: Config, problems: RawProblem[]): void {
  if (config.router.dataPlane !== 'haproxy') return;
  const { port } = config.router.haproxy.listen;
  if (port === config.router.listen.port) {
    problems.push({ path: ['router', 'haproxy', 'listen'], expected: `a port other than router.listen's (${port}): the router and HAProxy both listen` });
  }
  for (const service of Object.values(config.services)) {
    if (service.hosts.some((h) => machineOf(config, h) === LOCAL_MACHINE) && port >= service.ports.from && port <= service.ports.to) {
      problems.push({ path: ['router', 'haproxy', 'listen'], expected: `a port outside services.${service.name}.ports (${showRange(service.ports)}), which processes on this machine use` });
    }
  }
}

export function crossCheck(config: Config, raw: unknown): RawProblem[] {
  const problems: RawProblem[] = [];
  // One header cannot carry both the version and the service.
  if (config.router.versionHeader === config.router.serviceHeader) {
    problems.push({ path: ['router', 'serviceHeader'], expected: `a header other than versionHeader (${config.router.versionHeader})` });
  }
  checkHostReferences(config, raw, problems);
  checkPortRanges(config, raw, problems);
  checkLocalHosts(config, problems);
  checkHaproxyListen(config, problems);
  return problems;
}
