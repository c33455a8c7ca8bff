import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { failure, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// Every class of config mistake is reported with the file, the key path, what was found and what is expected.
afterAll(removeProjects);

describe('problems name the file, the key, what was found and what is expected', () => {
  const svc = (extra: string): string => `services:\n  lobby: { script: s.js, ports: 7500-7599, ${extra} }\n`;
  it.each<[string, string, Partial<ConfigProblem>]>([
    ['an unknown key', 'router: { heartbeatIntervall: 5s }\n', { path: 'router.heartbeatIntervall', found: 'an unknown key', expected: 'did you mean "heartbeatInterval"?' }],
    ['an unknown top-level key', 'service: {}\n', { path: 'service', found: 'an unknown key', expected: 'did you mean "services"?' }],
    ['an unknown service key', svc('instance: 2'), { path: 'services.lobby.instance', expected: 'did you mean "instances"?' }],
    ['a bad duration', 'router: { heartbeatInterval: soon }\n', { path: 'router.heartbeatInterval', found: '"soon"', expected: 'a duration like 500ms, 5s' }],
    ['a zero duration', svc('readiness: { timeout: 0 }'), { path: 'services.lobby.readiness.timeout', found: '0', expected: 'above 0' }],
    ['a duration past the timer limit', svc('drain: { timeout: 1000h }'), { path: 'services.lobby.drain.timeout', found: '"1000h"', expected: 'at most 596h' }],
    ['a reversed port range', 'services:\n  lobby: { script: s, ports: 7600-7500 }\n', { path: 'services.lobby.ports', found: '"7600-7500"', expected: 'the lower port first' }],
    ['a port out of range', 'services:\n  lobby: { script: s, ports: 70000 }\n', { path: 'services.lobby.ports', found: '70000', expected: 'ports 1-65535' }],
    ['missing ports', 'services:\n  lobby: { script: s }\n', { path: 'services.lobby.ports', found: 'nothing', expected: 'a port range like 7500-7599' }],
    ['overlapping ranges', 'services:\n  a: { script: s, ports: 7500-7599 }\n  b: { script: s, ports: 7590-7600 }\n', { path: 'services.b.ports', found: '"7590-7600"', expected: 'does not overlap services.a.ports (7500-7599) on this machine' }],
    ['overlap across two local hosts', 'hosts:\n  local: { address: 127.0.0.1 }\n  lan: { address: 10.0.0.5 }\nservices:\n  a: { script: s, ports: 7500 }\n  b: { script: s, ports: 7500, hosts: [lan] }\n', { path: 'services.b.ports', expected: 'does not overlap services.a.ports (7500)' }],
    ['the router port inside a local range', 'services:\n  a: { script: s, ports: 7400-7410 }\n', { path: 'router.listen', found: 'nothing (so the default 127.0.0.1:7400)', expected: 'a port outside services.a.ports (7400-7410)' }],
    ['an unknown host reference', svc('hosts: [local, edge-9]'), { path: 'services.lobby.hosts[1]', found: '"edge-9"', expected: 'names of hosts defined under hosts (local)' }],
    ['the default host missing', 'hosts:\n  edge: { ssh: edge, address: edge.example }\nservices:\n  lobby: { script: s, ports: 7500-7599 }\n', { path: 'services.lobby.hosts', found: 'nothing (so the default [local])', expected: '(edge)' }],
    ['a bad service name', 'services:\n  "lobby!": { script: s, ports: 7500-7599 }\n', { path: 'services.lobby!', found: 'the name "lobby!"', expected: 'a service name of letters, digits' }],
    ['a bad host name', 'hosts:\n  "edge 1": { address: x }\n', { path: 'hosts.edge 1', found: 'the name "edge 1"', expected: 'a host name of letters' }],
    ['env PORT', svc('env: { PORT: 8080 }'), { path: 'services.lobby.env.PORT', found: 'the name "PORT"', expected: 'other than PORT and SWITCHYARD_*' }],
    ['env SWITCHYARD_TOKEN', svc('env: { SWITCHYARD_TOKEN: x }'), { path: 'services.lobby.env.SWITCHYARD_TOKEN', expected: 'switchyard sets those' }],
    ['a malformed env name', svc('env: { 1X: y }'), { path: 'services.lobby.env.1X', expected: 'an environment variable name' }],
    ['an unknown placeholder', 'services:\n  lobby: { script: "r/{verison}/s.js", ports: 7500-7599 }\n', { path: 'services.lobby.script', found: '"r/{verison}/s.js"', expected: 'the only placeholder is {version}' }],
    ['an ssh target that is an option', 'hosts:\n  e: { ssh: "-oProxyCommand=x", address: e }\n', { path: 'hosts.e.ssh', found: '"-oProxyCommand=x"', expected: 'not starting with "-"' }],
    ['an ssh option with a space', 'hosts:\n  e: { ssh: e, address: e, sshOptions: ["ConnectTimeout=1 x"] }\n', { path: 'hosts.e.sshOptions[0]', expected: '"Key=Value"' }],
    ['an ssh option that runs a command', 'hosts:\n  e: { ssh: e, address: e, sshOptions: [ProxyCommand=nc] }\n', { path: 'hosts.e.sshOptions[0]', expected: 'put it in ~/.ssh/config' }],
    ['ssh settings on a local host', 'hosts:\n  local: { address: 127.0.0.1, port: 22 }\n', { path: 'hosts.local.port', found: '22', expected: 'add ssh: user@host' }],
    ['a listen without a port', 'router: { listen: 127.0.0.1 }\n', { path: 'router.listen', found: '"127.0.0.1"', expected: '"host:port"' }],
    ['an unknown mode', 'router: { mode: fast }\n', { path: 'router.mode', found: '"fast"', expected: 'redirect or proxy' }],
    ['a readiness path without a slash', svc('readiness: { http: healthz }'), { path: 'services.lobby.readiness.http', found: '"healthz"', expected: 'starting with "/"' }],
    ['more instances than ports', 'services:\n  lobby: { script: s.js, instances: 3, ports: 8000-8001 }\n', { path: 'services.lobby.ports', expected: 'at least 3 ports' }],
    ['the same header for version and service', 'router: { versionHeader: X-V, serviceHeader: x-v }\n', { path: 'router.serviceHeader', found: '"x-v"', expected: 'other than versionHeader (x-v)' }],
    ['a missing host address', 'hosts:\n  local: {}\n', { path: 'hosts.local.address', found: 'nothing', expected: 'a host name or IP address' }],
  ])('%s', async (_what, content, problem) => {
    const dir = await project({ [YAML_FILE]: content });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    const file = join(dir, YAML_FILE);
    expect(error.code).toBe('config_invalid');
    expect(error.kind).toBe('usage');
    const problems = error.details?.problems as ConfigProblem[];
    const match = problems.find((p) => p.path === problem.path);
    expect(match, `problems: ${JSON.stringify(problems)}`).toBeDefined();
    if (problem.found !== undefined) expect(match!.found).toBe(problem.found);
    if (problem.expected !== undefined) expect(match!.expected).toContain(problem.expected);
    expect(error.details?.file).toBe(file);
    expect(error.message).toContain(`${file}: ${match!.path}: found ${match!.found}, expected ${match!.expected}`);
  });

  it('lists every problem at once, one per line', async () => {
    const dir = await project({ [YAML_FILE]: 'router: { mode: fast, staleAfter: 0, typo: 1 }\nservices:\n  lobby: { script: "", ports: x }\n' });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line.startsWith(`${join(dir, YAML_FILE)}: `)).toBe(true);
  });

  it.each([
    ['bad YAML', YAML_FILE, 'services:\n  lobby: [\n', /line \d+/],
    ['duplicate YAML keys', YAML_FILE, 'services: {}\nservices: {}\n', /unique/i],
    ['bad JSON', 'switchyard.config.json', '{"services": {,}}', /line 1, column 15/],
    ['a module that throws', 'switchyard.config.mjs', 'throw new Error("no config for you");\n', /no config for you/],
    // Under vitest, import() goes through vite, whose wording differs from Node's ("SyntaxError: … (line 2)").
    ['a module with a syntax error', 'switchyard.config.mjs', 'export default { services: {\n', /SyntaxError|invalid JS syntax/],
    ['a CommonJS module with a syntax error', 'switchyard.config.cjs', 'module.exports = {\n  services: ,\n};\n', /SyntaxError|Unexpected token/],
    ['a module without a default export', 'switchyard.config.mjs', 'export const services = {};\n', /no default export/],
  ])('reports %s as config_invalid naming the file', async (_what, name, content, reason) => {
    const dir = await project({ [name]: content });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.code).toBe('config_invalid');
    expect(error.message.startsWith(`${join(dir, name)}: `)).toBe(true);
    expect(error.message).toMatch(reason);
  });

  it('says when the whole file is not a mapping', async () => {
    const dir = await project({ [YAML_FILE]: '- lobby\n' });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.message).toBe(`${join(dir, YAML_FILE)}: (the whole file): found ["lobby"], expected a mapping with the keys router, state, pm2Home, hosts, services, coordination, clockSkew and notify`);
  });

  it.each([
    ['switchyard.config.ts', undefined],
    ['switchyard.config.ts', 'switchyard.config.ts'],
  ])('refuses TypeScript config %s (found or named) with what to do instead', async (name, configPath) => {
    const dir = await project({ [name]: 'export default { services: {} } as const;\n' });
    const error = await failure(loadConfig({ cwd: dir, ...(configPath === undefined ? {} : { configPath }), env: {} }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain(join(dir, name));
    expect(error.message).toContain('switchyard.config.mjs');
  });
});
