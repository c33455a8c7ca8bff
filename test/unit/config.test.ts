import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_UNIX_SOCKET_PATH_BYTES } from '../../src/config/defaults.js';
import { loadConfig, pm2SocketPathTooLong, type Config, type ConfigProblem } from '../../src/config/load.js';
import { failure, LOBBY, LOBBY_YAML, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// Finding and reading config files, defaults and normalisation, environment overrides, warnings.
afterAll(removeProjects);

describe('config files', () => {
  it.each([
    ['switchyard.config.yaml', LOBBY_YAML],
    ['switchyard.config.yml', LOBBY_YAML],
    ['switchyard.config.json', JSON.stringify(LOBBY)],
    ['.switchyardrc', LOBBY_YAML],
    ['.switchyardrc', JSON.stringify(LOBBY)],
    ['.switchyardrc.json', JSON.stringify(LOBBY)],
    ['.switchyardrc.yaml', LOBBY_YAML],
    ['.switchyardrc.yml', LOBBY_YAML],
    ['package.json', JSON.stringify({ name: 'ops', switchyard: LOBBY })],
    ['switchyard.config.mjs', `export default ${JSON.stringify(LOBBY)};`],
    ['switchyard.config.cjs', `module.exports = ${JSON.stringify(LOBBY)};`],
    ['switchyard.config.js', `module.exports = ${JSON.stringify(LOBBY)};`],
    ['.switchyardrc.mjs', `export default ${JSON.stringify(LOBBY)};`],
    ['.switchyardrc.cjs', `module.exports = ${JSON.stringify(LOBBY)};`],
  ])('loads %s from a subfolder, searching upwards', async (name, content) => {
    const dir = await project({ [name]: content, 'deep/er/.keep': '' });
    const loaded = await loadConfig({ cwd: join(dir, 'deep/er'), env: {} });
    expect(loaded.filepath).toBe(join(dir, name));
    expect(loaded.dir).toBe(dir);
    expect(loaded.config.services.lobby?.ports).toEqual({ from: 7500, to: 7599 });
    expect(loaded.config.stateDir).toBe(join(dir, '.switchyard'));
  });

  it('is not stopped by a release folder package.json without a switchyard key', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML, 'releases/1.4.0/package.json': '{"name":"lobby"}' });
    const loaded = await loadConfig({ cwd: join(dir, 'releases/1.4.0'), env: {} });
    expect(loaded.filepath).toBe(join(dir, YAML_FILE));
  });

  it('takes the nearest config when folders nest', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML, 'inner/.switchyardrc.json': JSON.stringify({ services: {} }) });
    const loaded = await loadConfig({ cwd: join(dir, 'inner'), env: {} });
    expect(loaded.filepath).toBe(join(dir, 'inner/.switchyardrc.json'));
    expect(loaded.config.services).toEqual({});
  });

  it('says how to start when no config exists from the cwd upwards', async () => {
    const dir = await project({});
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.code).toBe('config_missing');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(`No switchyard config found from ${dir} upwards: run \`switchyard init\` to write one, or pass --config <file>.`);
  });

  it('names the path when --config points at nothing', async () => {
    const dir = await project({});
    const error = await failure(loadConfig({ cwd: dir, configPath: 'nope/switchyard.config.yaml', env: {} }));
    expect(error.code).toBe('config_missing');
    expect(error.message).toContain(join(dir, 'nope/switchyard.config.yaml'));
  });

  it('loads exactly the --config file, whatever its name, relative to the cwd', async () => {
    const dir = await project({ 'ops/deploy.conf': LOBBY_YAML, [YAML_FILE]: 'services: {}\n' });
    const loaded = await loadConfig({ cwd: dir, configPath: 'ops/deploy.conf', env: {} });
    expect(loaded.filepath).toBe(join(dir, 'ops/deploy.conf'));
    expect(loaded.config.stateDir).toBe(join(dir, 'ops/.switchyard'));
    expect(Object.keys(loaded.config.services)).toEqual(['lobby']);
  });

  it('refuses a --config package.json without a switchyard key', async () => {
    const dir = await project({ 'package.json': '{"name":"x"}' });
    const error = await failure(loadConfig({ cwd: dir, configPath: 'package.json', env: {} }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain(`${join(dir, 'package.json')}: has no "switchyard" key`);
  });

  it('lets YAML anchors and merge keys share service settings', async () => {
    const dir = await project({
      [YAML_FILE]: 'services:\n  a: &base { script: s.js, ports: 7500-7549, instances: 2 }\n  b: { <<: *base, ports: 7550-7599 }\n',
    });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.services.b).toMatchObject({ script: 's.js', instances: 2, ports: { from: 7550, to: 7599 } });
  });

  it('treats an empty file as all defaults, with a warning', async () => {
    const dir = await project({ [YAML_FILE]: '# nothing yet\n' });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.config.services).toEqual({});
    expect(loaded.config.hosts.local?.address).toBe('127.0.0.1');
    expect(loaded.warnings.join('\n')).toContain('is empty');
  });
});

describe('defaults and normalisation', () => {
  it('applies every default', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML });
    const { config, warnings } = await loadConfig({ cwd: dir, env: {} });
    expect(warnings).toEqual([]);
    expect(config.router).toEqual({
      listen: { host: '127.0.0.1', port: 7400 }, mode: 'redirect', heartbeatIntervalMs: 5000, staleAfter: 3,
      versionHeader: 'x-switchyard-version', serviceHeader: 'x-switchyard-service', maxBodyBytes: 65536,
      headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, maxConnections: 10_000, maxConnectionsPerClient: 1000, urls: [],
      dataPlane: 'builtin', haproxy: { listen: { host: '127.0.0.1', port: 8080 }, bin: 'haproxy', threads: undefined },
      proxy: { connectionsPerProcess: 256, queueTimeoutMs: 5000 },
    });
    expect(config.stateDir).toBe(join(dir, '.switchyard'));
    expect(config.pm2Home).toBe(join(dir, '.switchyard', 'pm2'));
    expect(config.hosts).toEqual({
      local: {
        name: 'local', address: '127.0.0.1', local: true, ssh: undefined, port: undefined, identityFile: undefined,
        sshOptions: [], pm2Home: join(dir, '.switchyard', 'pm2'), nodePath: undefined, pm2Path: undefined,
      },
    });
    expect(config.services.lobby).toEqual({
      name: 'lobby', script: 'releases/{version}/server.js', cwd: undefined, args: [], env: {},
      ports: { from: 7500, to: 7599 }, hosts: ['local'], instances: 1, match: 'exact', login: 'force',
      readiness: { http: undefined, timeoutMs: 30_000 }, drain: { grace: 2, timeoutMs: 1_800_000, closeOverMs: 10_000 }, killTimeoutMs: 5000,
      rollout: {
        steps: undefined,
        analysis: { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0, prometheus: undefined },
      },
    });
  });

  it.each([
    ['7500-7599', { from: 7500, to: 7599 }],
    [' 7500 - 7599 ', { from: 7500, to: 7599 }],
    ['"7500"', { from: 7500, to: 7500 }],
    ['7500', { from: 7500, to: 7500 }],
    ['{from: 9000, to: 9009}', { from: 9000, to: 9009 }],
  ])('normalises ports %s', async (ports, expected) => {
    const dir = await project({ [YAML_FILE]: `services:\n  lobby: { script: s.js, ports: ${ports} }\n` });
    expect((await loadConfig({ cwd: dir, env: {} })).config.services.lobby?.ports).toEqual(expected);
  });

  it.each([
    ['500ms', 500], ['5s', 5000], ['1.5s', 1500], ['30m', 1_800_000], ['1h', 3_600_000], ['2500', 2500],
  ])('normalises the duration %s to %i ms', async (duration, ms) => {
    const dir = await project({ [YAML_FILE]: `router: { heartbeatInterval: ${duration} }\nservices:\n  lobby: { script: s.js, ports: 7500-7599, killTimeout: ${duration}, drain: { timeout: ${duration} } }\n` });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.router.heartbeatIntervalMs).toBe(ms);
    expect(config.services.lobby?.killTimeoutMs).toBe(ms);
    expect(config.services.lobby?.drain.timeoutMs).toBe(ms);
  });

  it.each([
    ['0.0.0.0:8080', { host: '0.0.0.0', port: 8080 }],
    ['"[::1]:7400"', { host: '::1', port: 7400 }],
    ['router.internal:7401', { host: 'router.internal', port: 7401 }],
  ])('normalises router.listen %s', async (listen, expected) => {
    const dir = await project({ [YAML_FILE]: `router: { listen: ${listen}, versionHeader: X-App-Version }\n` });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.router.listen).toEqual(expected);
    expect(config.router.versionHeader).toBe('x-app-version');
  });

  it('resolves local paths against the config folder and keeps remote ones as written', async () => {
    const dir = await project({
      'ops/switchyard.config.yaml': [
        'state: ../run/state',
        'hosts:',
        '  local: { address: 127.0.0.1, pm2Home: pm2-local }',
        '  edge-1: { ssh: deploy@edge-1.internal, address: edge-1.example.com, port: 2222, identityFile: keys/id, pm2Home: ~/.pm2-sy, sshOptions: [StrictHostKeyChecking=accept-new] }',
        'services:',
        '  lobby: { script: s.js, ports: 7500-7599, hosts: [local, edge-1], env: { NODE_ENV: production, WORKERS: 4 }, args: [--port-offset, 2] }',
      ].join('\n'),
    });
    const { config } = await loadConfig({ cwd: dir, configPath: 'ops/switchyard.config.yaml', env: {} });
    expect(config.stateDir).toBe(join(dir, 'run/state'));
    expect(config.pm2Home).toBe(join(dir, 'run/state/pm2'));
    expect(config.hosts.local?.pm2Home).toBe(join(dir, 'ops/pm2-local'));
    expect(config.hosts['edge-1']).toMatchObject({ local: false, ssh: 'deploy@edge-1.internal', port: 2222, identityFile: join(dir, 'ops/keys/id'), pm2Home: '~/.pm2-sy' });
    expect(config.services.lobby?.env).toEqual({ NODE_ENV: 'production', WORKERS: '4' });
    expect(config.services.lobby?.args).toEqual(['--port-offset', '2']);
  });

  it('allows the same port range on different remote hosts', async () => {
    const dir = await project({
      [YAML_FILE]: 'hosts:\n  a: { ssh: a, address: a.example }\n  b: { ssh: b, address: b.example }\nservices:\n  x: { script: s, ports: 7500-7599, hosts: [a] }\n  y: { script: s, ports: 7500-7599, hosts: [b] }\n',
    });
    expect(Object.keys((await loadConfig({ cwd: dir, env: {} })).config.services)).toEqual(['x', 'y']);
  });
});

describe('environment overrides', () => {
  it.each([
    ['SWITCHYARD_ROUTER_LISTEN', '0.0.0.0:9400', (c: Config) => c.router.listen, { host: '0.0.0.0', port: 9400 }],
    ['SWITCHYARD_ROUTER_MODE', 'proxy', (c: Config) => c.router.mode, 'proxy'],
    ['SWITCHYARD_HEARTBEAT_INTERVAL', '250ms', (c: Config) => c.router.heartbeatIntervalMs, 250],
    ['SWITCHYARD_STATE_DIR', '/var/lib/sy', (c: Config) => c.stateDir, '/var/lib/sy'],
    ['SWITCHYARD_PM2_HOME', '/tmp/sy-pm2', (c: Config) => c.pm2Home, '/tmp/sy-pm2'],
  ])('%s overrides the file', async (variable, value, pick, expected) => {
    const dir = await project({ [YAML_FILE]: `router: { listen: 127.0.0.1:7400, mode: redirect, heartbeatInterval: 5s }\nstate: st\npm2Home: p\n${LOBBY_YAML}` });
    const { config } = await loadConfig({ cwd: dir, env: { [variable]: value } });
    expect(pick(config)).toEqual(expected);
  });

  it('reads a relative SWITCHYARD_STATE_DIR from the cwd, and ignores an empty one', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML, 'sub/.keep': '' });
    const fromSub = await loadConfig({ cwd: join(dir, 'sub'), env: { SWITCHYARD_STATE_DIR: 'here' } });
    expect(fromSub.config.stateDir).toBe(join(dir, 'sub/here'));
    const empty = await loadConfig({ cwd: join(dir, 'sub'), env: { SWITCHYARD_STATE_DIR: '' } });
    expect(empty.config.stateDir).toBe(join(dir, '.switchyard'));
  });

  it.each([
    ['SWITCHYARD_HEARTBEAT_INTERVAL', 'soon', 'router.heartbeatInterval', 'a duration like'],
    ['SWITCHYARD_ROUTER_LISTEN', 'everywhere', 'router.listen', '"host:port"'],
    ['SWITCHYARD_ROUTER_MODE', 'teleport', 'router.mode', 'redirect or proxy'],
    ['SWITCHYARD_ROUTER_LISTEN', '127.0.0.1:7550', 'router.listen', 'a port outside services.lobby.ports'],
  ])('reports a bad %s=%s by the variable name', async (variable, value, path, expected) => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML });
    const error = await failure(loadConfig({ cwd: dir, env: { [variable]: value } }));
    expect(error.code).toBe('config_invalid');
    const problem = (error.details?.problems as ConfigProblem[]).find((p) => p.path === path);
    expect(problem).toMatchObject({ source: variable, found: JSON.stringify(value) });
    expect(error.message).toContain(`${variable} (environment, overrides ${path} of ${join(dir, YAML_FILE)}): found "${value}", expected`);
    expect(problem?.expected).toContain(expected);
  });

  it('ignores every other SWITCHYARD_* variable, above all the ones given to processes', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML });
    const env = {
      SWITCHYARD_SERVICE: 'other', SWITCHYARD_VERSION: '9.9.9', SWITCHYARD_PROCESS: 'other@9.9.9#0',
      SWITCHYARD_ROUTER_URL: 'http://10.0.0.1:1', SWITCHYARD_TOKEN: 'x', SWITCHYARD_HEARTBEAT_MS: '1',
      SWITCHYARD_ROUTER_LISTN: 'garbage', SWITCHYARD_STATE: '/elsewhere', PORT: '1',
    };
    const withEnv = await loadConfig({ cwd: dir, env });
    const without = await loadConfig({ cwd: dir, env: {} });
    expect(withEnv.config).toEqual(without.config);
  });
});

describe('warnings', () => {
  it('warns when PM2_HOME is too long for its unix socket', async () => {
    const dir = await project({ [YAML_FILE]: `pm2Home: ${'p'.repeat(120)}\n` });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toContain(join(dir, 'p'.repeat(120), 'rpc.sock'));
    expect(loaded.warnings[0]).toContain('set pm2Home to a shorter folder');
  });

  it('pm2SocketPathTooLong draws the line at the socket path limit', () => {
    const base = '/'.concat('a'.repeat(MAX_UNIX_SOCKET_PATH_BYTES - '/rpc.sock'.length - 1));
    expect(pm2SocketPathTooLong(base)).toBe(false);
    expect(pm2SocketPathTooLong(`${base}b`)).toBe(true);
    expect(pm2SocketPathTooLong('/srv/sy/pm2')).toBe(false);
  });

  it('warns when a port range leaves no room to deploy beside the running version', async () => {
    const dir = await project({ [YAML_FILE]: 'services:\n  lobby: { script: s, ports: 7500 }\n' });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.warnings.join('\n')).toContain('services.lobby.ports: 1 port(s) fit only one version');
  });
});
