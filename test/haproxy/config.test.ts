import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';
import { failure, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';
import { freePorts } from '../helpers/free-port.js';
import { cliEnv } from '../helpers/router-process.js';

// router.dataPlane and router.haproxy: defaults, every mistake named by its key, and a missing binary.
afterAll(removeProjects);

describe('router.dataPlane and router.haproxy', () => {
  it('defaults to the built-in proxy, with HAProxy settings ready for a switch', async () => {
    const dir = await project({ [YAML_FILE]: 'router: {}\n' });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.router.dataPlane).toBe('builtin');
    expect(config.router.haproxy).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, bin: 'haproxy', threads: undefined, forwardFor: undefined });
  });

  it('reads a HAProxy data plane', async () => {
    const dir = await project({ [YAML_FILE]: 'router:\n  mode: proxy\n  dataPlane: haproxy\n  haproxy: { listen: 0.0.0.0:8080, bin: /usr/sbin/haproxy, threads: 2, forwardFor: true }\n' });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.router.dataPlane).toBe('haproxy');
    expect(config.router.haproxy).toEqual({ listen: { host: '0.0.0.0', port: 8080 }, bin: '/usr/sbin/haproxy', threads: 2, forwardFor: true });
  });

  it.each<[string, string, Partial<ConfigProblem>]>([
    ['an unknown data plane', 'router: { dataPlane: envoy }\n', { path: 'router.dataPlane', found: '"envoy"', expected: 'builtin or haproxy' }],
    ['a listen without a port', 'router: { haproxy: { listen: 0.0.0.0 } }\n', { path: 'router.haproxy.listen', expected: '"host:port"' }],
    ['a typo under haproxy', 'router: { haproxy: { lisen: 0.0.0.0:8080 } }\n', { path: 'router.haproxy.lisen', found: 'an unknown key', expected: 'did you mean "listen"?' }],
    ['forwardFor not a boolean', 'router: { haproxy: { forwardFor: sometimes } }\n', { path: 'router.haproxy.forwardFor', expected: 'true or false' }],
    ['a zero thread count', 'router: { haproxy: { threads: 0 } }\n', { path: 'router.haproxy.threads', expected: 'a whole number from 1 to 64' }],
    ['haproxy not a mapping', 'router: { haproxy: 8080 }\n', { path: 'router.haproxy', expected: 'a mapping like {listen: 0.0.0.0:8080, bin: haproxy}' }],
    ['HAProxy on the router\'s port', 'router: { listen: 127.0.0.1:7400, dataPlane: haproxy, haproxy: { listen: 0.0.0.0:7400 } }\n', { path: 'router.haproxy.listen', expected: "a port other than router.listen's (7400)" }],
    ['HAProxy inside a service\'s ports', 'router: { dataPlane: haproxy, haproxy: { listen: 0.0.0.0:7550 } }\nservices:\n  lobby: { script: s.js, ports: 7500-7599 }\n', { path: 'router.haproxy.listen', expected: 'a port outside services.lobby.ports (7500-7599)' }],
  ])('%s is a problem naming the key', async (_what, content, problem) => {
    const dir = await project({ [YAML_FILE]: content });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.kind).toBe('usage');
    const problems = error.details?.problems as ConfigProblem[];
    const match = problems.find((p) => p.path === problem.path);
    expect(match, `problems: ${JSON.stringify(problems)}`).toBeDefined();
    if (problem.found !== undefined) expect(match!.found).toBe(problem.found);
    expect(match!.expected).toContain(problem.expected);
  });

  it('router run exits 2 and says what to install when the haproxy binary is missing', async () => {
    const [routerPort, edgePort] = await freePorts(2);
    const dir = await project({ '.switchyard/token': 'ab'.repeat(32), [YAML_FILE]: `router:\n  listen: 127.0.0.1:${routerPort}\n  mode: proxy\n  dataPlane: haproxy\n  haproxy: { listen: 127.0.0.1:${edgePort}, bin: no-such-haproxy }\n` });
    const result = await runCli(['router', 'run', '--config', join(dir, YAML_FILE)], { cwd: dir, env: cliEnv(join(dir, 'pm2')), timeoutMs: 30_000 });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('router.haproxy.bin: "no-such-haproxy" was not found. Install HAProxy (on Debian: apt-get install haproxy)');
  });
});
