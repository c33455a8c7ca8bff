import { stringify } from 'yaml';
import { CONFIG_DEFAULTS } from './defaults.js';

/**
 * Writes the commented switchyard.config.yaml that `init` creates: the
 * answers filled in, every other setting shown with its default so a person
 * sees what can be changed without reading the docs. Commented-out lines
 * are optional settings that have no default value.
 */
export interface RenderAnswers {
  service: string;
  script: string;
  ports: string;
  listen: string;
}

/** One YAML scalar, quoted when YAML would read it otherwise (`[::1]:7400`, `a: b`, `#`). */
function scalar(value: string | number): string {
  return stringify(value).trimEnd();
}

export function renderConfig(answers: RenderAnswers): string {
  const r = CONFIG_DEFAULTS.router;
  const s = CONFIG_DEFAULTS.service;
  const lines = [
    '# switchyard config. Durations: 500ms, 5s, 30m, 1h. Relative paths are read from this folder.',
    '# Only services.<name>.script and .ports are required; everything else shows its default.',
    '',
    'router:',
    '  # Where terminals log in and processes send heartbeats ("host:port"; 0.0.0.0 for every interface).',
    `  listen: ${scalar(answers.listen)}`,
    '  # redirect: terminals get the address of their process; proxy: the router forwards their traffic.',
    `  mode: ${r.mode}`,
    '  # Processes send a heartbeat this often; after staleAfter missed ones a process counts as stale.',
    `  heartbeatInterval: ${r.heartbeatInterval}`,
    `  staleAfter: ${r.staleAfter}`,
    '  # Where a request carries its version and service (proxy mode and /v1/resolve).',
    `  versionHeader: ${r.versionHeader}`,
    `  serviceHeader: ${r.serviceHeader}`,
    '  # Largest request body the router reads (login, heartbeat), in bytes.',
    `  maxBodyBytes: ${r.maxBodyBytes}`,
    '  # Client connection bounds: a client that is slower is disconnected; one over a cap is refused.',
    `  headersTimeout: ${r.headersTimeout}`,
    `  requestTimeout: ${r.requestTimeout}`,
    `  keepAliveTimeout: ${r.keepAliveTimeout}`,
    `  maxConnections: ${r.maxConnections}`,
    `  maxConnectionsPerClient: ${r.maxConnectionsPerClient}`,
    '  # The URL processes on every host send heartbeats to (default: from listen; set it when hosts are remote).',
    '  # Several routers: comma-separated or a list, tried in order (docs/configuration.md).',
    '  # url: http://router.internal:7400',
    '',
    '# The policy, its history and the token live here.',
    `state: ${CONFIG_DEFAULTS.state}`,
    `# PM2_HOME for this machine (default: ${CONFIG_DEFAULTS.state}/${CONFIG_DEFAULTS.pm2HomeInState}). Keep it short:`,
    '# PM2 puts a unix socket in it, and socket paths are limited to about 100 bytes.',
    '# pm2Home: /tmp/switchyard-pm2',
    '',
    '# Machines that run processes. A host without ssh is this machine.',
    'hosts:',
    '  local:',
    '    address: 127.0.0.1',
    '  # edge-1:',
    '  #   ssh: deploy@edge-1.internal      # run pm2 there over ssh',
    '  #   address: edge-1.example.com      # where terminals are sent',
    '  #   port: 22',
    '  #   identityFile: ~/.ssh/deploy_ed25519',
    '  #   sshOptions: [StrictHostKeyChecking=accept-new]',
    '',
    'services:',
    `  ${scalar(answers.service)}:`,
    '    # The script PM2 starts; {version} is replaced by the version being deployed.',
    `    script: ${scalar(answers.script)}`,
    '    # cwd: releases/{version}',
    '    # args: [--verbose]',
    '    # env: { NODE_ENV: production }   # PORT and SWITCHYARD_* are set by switchyard',
    '    # Each process is given one free port of this range in PORT. Old and new versions',
    '    # run side by side during a deploy, so leave room for both.',
    `    ports: ${scalar(answers.ports)}`,
    `    hosts: [${s.hosts.join(', ')}]`,
    '    # Processes per version on each host.',
    `    instances: ${s.instances}`,
    '    # Which process versions serve a terminal: exact (1.4.2), patch (1.4.x) or minor (1.x).',
    `    match: ${s.match}`,
    '    # force: every login goes to the target version; allow: an active matching version may keep it.',
    `    login: ${s.login}`,
    '    readiness:',
    '      # http: /healthz   # ready on HTTP 2xx here; without it, when PORT accepts a connection',
    `      timeout: ${s.readinessTimeout}`,
    '    drain:',
    '      # Stop an old version after this many heartbeat intervals with zero terminals,',
    '      # or once the timeout has passed, cutting off the terminals it still holds.',
    `      grace: ${s.drainGrace}`,
    `      timeout: ${s.drainTimeout}`,
    '    # After SIGINT, how long PM2 waits before killing a process.',
    `    killTimeout: ${s.killTimeout}`,
    '',
  ];
  return lines.join('\n');
}
