import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { failure, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// services.<name>.rollout and the top-level notify: defaults, forms, and problems that name the file, the key and what is expected.
afterAll(removeProjects);

const svc = (rollout: string): string => `services:\n  lobby:\n    script: s.js\n    ports: 7500-7599\n    rollout: ${rollout}\n`;
const withNotify = (notify: string): string => `notify: ${notify}\n`;

async function load(content: string) {
  const dir = await project({ [YAML_FILE]: content });
  return { dir, config: (await loadConfig({ cwd: dir, env: {} })).config };
}

describe('rollout and notify settings', () => {
  it('has the documented defaults when nothing is written', async () => {
    const { config } = await load('services:\n  lobby: { script: s.js, ports: 7500-7599 }\n');
    expect(config.services.lobby?.rollout).toEqual({
      steps: undefined,
      analysis: { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0, prometheus: undefined },
    });
    expect(config.notify).toEqual([]);
  });

  it('reads the design example', async () => {
    const { config } = await load(svc('\n      steps: [ { canary: 10, pause: 2m }, { canary: 50, pause: 5m }, { canary: 100 } ]\n      analysis: { interval: 10s, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 1% }'));
    expect(config.services.lobby?.rollout.steps).toEqual([{ canary: 10, pauseMs: 120_000 }, { canary: 50, pauseMs: 300_000 }, { canary: 100, pauseMs: 0 }]);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['the inline form, 100 added', '{ steps: "10:2m,50:5m" }', { steps: [{ canary: 10, pauseMs: 120_000 }, { canary: 50, pauseMs: 300_000 }, { canary: 100, pauseMs: 0 }] }],
    ['an empty rollout key', '', { steps: undefined }],
    ['maxErrorRate as a fraction', '{ analysis: { maxErrorRate: 0.02 } }', { analysis: expect.objectContaining({ maxErrorRate: 0.02 }) }],
    ['maxErrorRate as a percent', '{ analysis: { maxErrorRate: 0.5% } }', { analysis: expect.objectContaining({ maxErrorRate: 0.005 }) }],
    ['latency, restarts and limits', '{ analysis: { maxLatencyP99: 800ms, maxRestarts: 1, failureLimit: 1, interval: 30s } }', { analysis: expect.objectContaining({ maxLatencyP99Ms: 800, maxRestarts: 1, failureLimit: 1, intervalMs: 30_000 }) }],
    ['prometheus checks', '{ analysis: { prometheus: { url: "http://prom:9090/", checks: [{ query: "sum(x{version=\\"{{version}}\\"})", max: 0.5 }] } } }',
      { analysis: expect.objectContaining({ prometheus: { url: 'http://prom:9090', timeoutMs: 5000, checks: [{ query: 'sum(x{version="{{version}}"})', max: 0.5 }] } }) }],
  ])('%s', async (_what, rollout, expected) => {
    const { config } = await load(svc(rollout));
    expect(config.services.lobby?.rollout).toMatchObject(expected);
  });

  it('reads notify: secret files made absolute against the config folder, events as written', async () => {
    const { dir, config } = await load(withNotify('[{ url: "https://hooks.example.com/a", secretFile: secrets/hook }, { url: "http://127.0.0.1:9/b", secretEnv: HOOK_SECRET, events: [rollout.aborted, rollout.completed, rollout.aborted] }]'));
    expect(config.notify).toEqual([
      { url: 'https://hooks.example.com/a', secret: { file: join(dir, 'secrets/hook') }, events: undefined },
      { url: 'http://127.0.0.1:9/b', secret: { env: 'HOOK_SECRET' }, events: ['rollout.aborted', 'rollout.completed'] },
    ]);
  });
});

describe('rollout and notify problems', () => {
  it.each<[string, string, Partial<ConfigProblem>]>([
    ['weights that do not increase', svc('{ steps: [{ canary: 10, pause: 2m }, { canary: 5, pause: 5m }] }'), { path: 'services.lobby.rollout.steps[1]', found: '{"canary":5,"pause":"5m"}', expected: "a canary weight above the step before's 10" }],
    ['a weight over 100', svc('{ steps: [{ canary: 120 }] }'), { path: 'services.lobby.rollout.steps[0]', expected: 'above 0 and at most 100' }],
    ['a bad pause', svc('{ steps: [{ canary: 10, pause: soon }] }'), { path: 'services.lobby.rollout.steps[0]', expected: 'a pause that is a duration' }],
    ['an unknown step key', svc('{ steps: [{ canary: 10, wait: 2m }] }'), { path: 'services.lobby.rollout.steps[0].wait', found: 'an unknown key', expected: 'one of the keys canary, pause' }],
    ['a step that is not a mapping', svc('{ steps: [10] }'), { path: 'services.lobby.rollout.steps[0]', found: '10', expected: 'a step like {canary: 10, pause: 2m}' }],
    ['an empty plan', svc('{ steps: [] }'), { path: 'services.lobby.rollout.steps', expected: 'at least one step' }],
    ['a bad inline plan', svc('{ steps: "10:2m,150" }'), { path: 'services.lobby.rollout.steps', found: '"10:2m,150"', expected: 'step 2 ("150"): expected a canary weight above 0 and at most 100' }],
    ['steps of another type', svc('{ steps: 10 }'), { path: 'services.lobby.rollout.steps', expected: 'a list of steps like' }],
    ['a typo in analysis', svc('{ analysis: { failureLimt: 3 } }'), { path: 'services.lobby.rollout.analysis.failureLimt', found: 'an unknown key', expected: 'did you mean "failureLimit"?' }],
    ['a typo in rollout', svc('{ step: "10" }'), { path: 'services.lobby.rollout.step', expected: 'did you mean "steps"?' }],
    ['an error rate over 100%', svc('{ analysis: { maxErrorRate: 150% } }'), { path: 'services.lobby.rollout.analysis.maxErrorRate', found: '"150%"', expected: 'a percent like 1% or a fraction like 0.01' }],
    ['an error rate above 1 as a number', svc('{ analysis: { maxErrorRate: 5 } }'), { path: 'services.lobby.rollout.analysis.maxErrorRate', found: '5', expected: 'from 0 to 1' }],
    ['zero minRequests', svc('{ analysis: { minRequests: 0 } }'), { path: 'services.lobby.rollout.analysis.minRequests', expected: 'a whole number from 1' }],
    ['a latency that is not a duration', svc('{ analysis: { maxLatencyP99: fast } }'), { path: 'services.lobby.rollout.analysis.maxLatencyP99', expected: 'a duration like' }],
    ['an unknown query placeholder', svc('{ analysis: { prometheus: { url: "http://p:9090", checks: [{ query: "x{{svc}}", max: 1 }] } } }'), { path: 'services.lobby.rollout.analysis.prometheus.checks[0].query', expected: 'the only placeholders are {{service}} and {{version}}' }],
    ['a check without max', svc('{ analysis: { prometheus: { url: "http://p:9090", checks: [{ query: "x" }] } } }'), { path: 'services.lobby.rollout.analysis.prometheus.checks[0].max', found: 'nothing', expected: 'the highest value that passes' }],
    ['no checks', svc('{ analysis: { prometheus: { url: "http://p:9090", checks: [] } } }'), { path: 'services.lobby.rollout.analysis.prometheus.checks', expected: 'at least one check' }],
    ['a Prometheus URL that is not http', svc('{ analysis: { prometheus: { url: "prom:9090", checks: [{ query: x, max: 1 }] } } }'), { path: 'services.lobby.rollout.analysis.prometheus.url', expected: '(http:// or https://)' }],
    ['a hook with both secrets', withNotify('[{ url: "https://h.example/x", secretFile: f, secretEnv: E }]'), { path: 'notify[0].secretEnv', found: '"E"', expected: 'exactly one of secretFile' }],
    ['a hook without a secret', withNotify('[{ url: "https://h.example/x" }]'), { path: 'notify[0].secretFile', found: 'nothing', expected: 'exactly one of secretFile' }],
    ['an unknown event', withNotify('[{ url: "https://h.example/x", secretEnv: E, events: [rollout.finished] }]'), { path: 'notify[0].events[0]', found: '"rollout.finished"', expected: 'one of rollout.started, rollout.step' }],
    ['an empty event list', withNotify('[{ url: "https://h.example/x", secretEnv: E, events: [] }]'), { path: 'notify[0].events', expected: 'leave events out for all of them' }],
    ['a hook URL that is not http', withNotify('[{ url: "ftp://h.example/x", secretEnv: E }]'), { path: 'notify[0].url', expected: '(http:// or https://)' }],
    ['a bad secret variable', withNotify('[{ url: "https://h.example/x", secretEnv: "1-X" }]'), { path: 'notify[0].secretEnv', expected: 'an environment variable name' }],
    ['a typo in a hook', withNotify('[{ url: "https://h.example/x", secretEnv: E, event: [deploy] }]'), { path: 'notify[0].event', expected: 'did you mean "events"?' }],
    ['notify that is not a list', withNotify('{ url: "https://h.example/x" }'), { path: 'notify', expected: 'a list of webhooks' }],
  ])('%s', async (_what, content, problem) => {
    const dir = await project({ [YAML_FILE]: content });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    const file = join(dir, YAML_FILE);
    expect(error.code).toBe('config_invalid');
    expect(error.exitCode).toBe(2);
    const problems = error.details?.problems as ConfigProblem[];
    const match = problems.find((p) => p.path === problem.path);
    expect(match, `problems: ${JSON.stringify(problems)}`).toBeDefined();
    if (problem.found !== undefined) expect(match!.found).toBe(problem.found);
    if (problem.expected !== undefined) expect(match!.expected).toContain(problem.expected);
    expect(error.message).toContain(`${file}: ${match!.path}: found ${match!.found}, expected ${match!.expected}`);
  });
});
