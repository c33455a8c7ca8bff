import { execa } from 'execa';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildTracker, waitExit } from '../helpers/child-processes.js';
import { BIN } from '../helpers/cli.js';
import { fakePrometheus, type FakePrometheus } from '../helpers/fake-prometheus.js';
import { freePort } from '../helpers/free-port.js';
import { waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { counter, endSuite, history, planProject, reachedAt, stepsCommitted, terminalsUnderLoad } from '../helpers/rollout-plans.js';

/**
 * What a plan survives and what stops it, on a real fleet (proxy mode,
 * terminals under load): the CI job that started it SIGKILLed after the
 * first step (the router finishes it, on time, while the webhook receiver
 * is down and its retries are counted); a Prometheus check whose server
 * is down (the plan pauses, never promotes); a person looking and
 * aborting (`rollout status`, `rollout abort --dry-run`, `rollout abort`);
 * and docs/ci.md's CI step, run as written, for a healthy version and a
 * failing one.
 */

const CHECK = 'sum(rate(app_errors_total{service="{{service}}",version="{{version}}"}[1m]))';
const children = new ChildTracker();
let project: RolloutProject;
let prometheus: FakePrometheus;

beforeAll(async () => {
  prometheus = await fakePrometheus('0.1');
  const deadHook = await freePort();
  project = await planProject({
    prefix: 'sy-plan-steer-', mode: 'proxy',
    releases: { '1.0.0': 'counting', '1.1.0': 'counting', '1.2.0': 'counting', '1.3.0': 'counting', '1.4.0': 'failing' },
    steps: '20:1s,100',
    analysis: { prometheus: { url: prometheus.url, timeout: '300ms', checks: [{ query: CHECK, max: 0.5 }] } },
    files: { 'hook.secret': 'the-hook-secret' },
    notify: [{ url: `http://127.0.0.1:${deadHook}/hook`, secretFile: 'hook.secret' }],
  });
  await terminalsUnderLoad(children, project.routerUrl, project.service, 'proxy');
}, 120_000);

afterAll(async () => {
  await prometheus?.down();
  await endSuite(children, project);
}, 60_000);

describe('progressive rollouts: what a plan survives and what stops it', () => {
  it('SIGKILL of `deploy --steps --wait` after the first step: the router completes the plan, undelayed by a webhook receiver that is down', async () => {
    const child = children.spawn(process.execPath, [BIN, 'deploy', '1.1.0', '--steps', '20:2s,50:2s,100', '--wait', '--json'], { cwd: project.dir, env: { ...project.env, CI: 'true', NO_COLOR: '1' } });
    child.stdout?.resume();
    child.stderr?.resume();
    const rollout = await waitFor('the first step committed', async () => {
      const r = (await project.policy()).services.lobby.rollout;
      return r?.version === '1.1.0' ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 20 });
    const killedAt = Date.now();
    child.kill('SIGKILL');
    expect(await waitExit(child)).toMatchObject({ signal: 'SIGKILL' });
    await waitFor('the plan to complete without its CLI', async () => ((await project.policy()).services.lobby.rollout.state === 'completed' ? true : undefined), { timeoutMs: 30_000 });
    const revisions = await history(project);
    const wallMs = reachedAt(revisions, 'lobby', rollout.id, 'completed')! - Date.parse(rollout.startedAt);
    const metrics = await project.metrics();
    const retries = counter(metrics, 'switchyard_webhook_retries_total');
    console.log(`rollout-plans: deploy --steps --wait SIGKILLed ${killedAt - Date.parse(rollout.startedAt)} ms after its first step; the router completed the plan ${wallMs} ms after the first step (bound 9000), the webhook receiver down all along: ${retries} retries, ${counter(metrics, 'switchyard_webhook_deliveries_total')} delivered, ${counter(metrics, 'switchyard_webhook_queued')} queued; Prometheus asked ${prometheus.queries.length} times`);
    expect(stepsCommitted(revisions, 'lobby', rollout.id)).toEqual([0, 1, 2]);
    expect(wallMs).toBeLessThanOrEqual(2000 + 2000 + 3 * 1000 + 2000);
    expect((await project.policy()).services.lobby.target).toBe('1.1.0');
    expect(retries).toBeGreaterThan(0);
    expect(counter(metrics, 'switchyard_webhook_deliveries_total')).toBe(0);
    expect(prometheus.queries).toContain(CHECK.replace('{{service}}', 'lobby').replace('{{version}}', '1.1.0'));
  }, 120_000);

  it('a Prometheus check whose server is down pauses the plan, which never promotes; a person sees why and aborts it', async () => {
    await prometheus.down();
    const deploy = await project.cliJson(['deploy', '1.2.0', '--steps', '20:1s,100'], { timeoutMs: 60_000 });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    expect(deploy.json.rollout).toMatchObject({ state: 'progressing', step: 1, canary: 20 });
    await waitFor('the plan to pause', async () => ((await project.policy()).services.lobby.rollout.state === 'paused' ? true : undefined), { timeoutMs: 20_000 });
    // Held: a few more intervals change nothing.
    await new Promise((r) => setTimeout(r, 3000));
    const status = await project.cliJson(['rollout', 'status']);
    expect(status.exitCode, status.stderr).toBe(0);
    const view = status.json.rollouts.lobby;
    expect(view).toMatchObject({ version: '1.2.0', state: 'paused', step: 1, steps: 2, canary: 20, pauseLeftMs: null });
    expect(view.reason).toMatch(/inconclusive intervals at step 1 of 2 .* reached inconclusiveLimit \(3\); the last: the Prometheus check .* gave no value \(Prometheus at http:\/\/127\.0\.0\.1:\d+ could not be asked/);
    expect(view.verdicts.map((v: any) => v.verdict)).toEqual(['inconclusive', 'inconclusive', 'inconclusive']);
    expect(view.verdicts[0].checks).toEqual([{ query: CHECK, max: 0.5, value: null }]);
    const revisions = await history(project);
    expect(revisions.some((r) => r.services.lobby?.target === '1.2.0')).toBe(false);
    const human = await project.cli(['rollout', 'status']);
    expect(human.stdout).toContain('lobby: rollout of 1.2.0 (from 1.1.0): PAUSED');
    console.log(`rollout-plans: Prometheus down: paused after ${view.verdicts.length} inconclusive intervals, held 3 s more without a promotion\n${human.stdout}`);

    const dry = await project.cliJson(['rollout', 'abort', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.json).toMatchObject({ ok: true, dryRun: true, wouldWrite: status.json.generation + 1 });
    expect(dry.json.changes).toEqual(expect.arrayContaining(['lobby: canary 1.2.0 at 20% → none', expect.stringMatching(/^lobby: rollout of 1\.2\.0 aborted: /)]));
    expect((await project.policy()).services.lobby.rollout.state).toBe('paused');
    const abort = await project.cliJson(['rollout', 'abort', '--reason', 'Prometheus is down']);
    expect(abort.exitCode, abort.stderr).toBe(0);
    expect(abort.json).toMatchObject({ ok: true, verb: 'abort', unchanged: false, rollout: { state: 'aborted', reason: 'Prometheus is down' } });
    const policy = await project.policy();
    expect(policy.services.lobby).toMatchObject({ target: '1.1.0', canary: null });
    // It drains from the abort on (and may be retired already, its terminals gone).
    const abortRevision = (await history(project)).find((r) => r.services.lobby?.rollout?.state === 'aborted' && r.services.lobby.rollout.version === '1.2.0');
    expect(abortRevision.services.lobby.processes.filter((p: any) => p.version === '1.2.0').map((p: any) => p.state)).toEqual(['draining']);
    const again = await project.cliJson(['rollout', 'abort']);
    expect(again).toMatchObject({ exitCode: 2, json: { ok: false, error: 'rollout_ended' } });
  }, 120_000);

  it("docs/ci.md's CI step, run as written: exit 0 and the outcome for a healthy version, exit 1 with the figures for a failing one", async () => {
    await prometheus.up();
    const doc = await readFile(join(import.meta.dirname, '../../docs/ci.md'), 'utf8');
    const marked = /<!-- ci-script:begin -->\n```bash\n([\s\S]*?)```\n<!-- ci-script:end -->/.exec(doc)![1]!;
    const yamlBlocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!));
    const github = yamlBlocks.find((y) => y?.jobs?.rollout !== undefined).jobs.rollout.steps.find((s: any) => s.name === 'rollout').run as string;
    const gitlab = yamlBlocks.find((y) => y?.rollout?.script !== undefined).rollout.script[0] as string;
    // The three copies say the same, but for GitHub's annotations.
    const words = (script: string) => script.replace(/::(error|warning)::/g, '').replace(/\s+/g, ' ').trim();
    expect(words(github)).toBe(words(marked));
    expect(words(gitlab)).toBe(words(marked));
    const bin = join(project.dir, 'ci-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'switchyard'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    await chmod(join(bin, 'switchyard'), 0o755);
    const runStep = (script: string, version: string) => execa('bash', ['-e', '-c', script], {
      cwd: project.dir, env: { ...project.env, CI: 'true', NO_COLOR: '1', VERSION: version, PATH: `${bin}:${process.env.PATH}` }, reject: false, timeout: 90_000, stdin: 'ignore',
    });
    const healthy = await runStep(marked, '1.3.0');
    expect(healthy.exitCode, String(healthy.stderr)).toBe(0);
    expect(healthy.stdout).toMatch(/^rollout of 1\.3\.0 completed: step 2 of 2 \(canary 100%\) passed its pause: the rollout is complete\.$/m);
    const failing = await runStep(github, '1.4.0');
    console.log(`rollout-plans: docs/ci.md's step: healthy 1.3.0 → exit ${healthy.exitCode}: ${healthy.stdout.trim()}\nfailing 1.4.0 (GitHub Actions' copy) → exit ${failing.exitCode}:\n${failing.stdout.trim()}`);
    expect(failing.exitCode, String(failing.stderr)).toBe(1);
    expect(failing.stdout).toMatch(/^::error::rollout of 1\.4\.0 failed \(rollout_aborted\): \d+ failed intervals at step 1 of 2 \(canary 20%\) reached failureLimit \(2\)/m);
    expect(failing.stdout).toMatch(/^ {2}\S+ fail: \d+ requests, \d+ errors, 0 restarts$/m);
    expect(JSON.parse(await readFile(join(project.dir, 'rollout.json'), 'utf8'))).toMatchObject({ ok: false, error: 'rollout_aborted', version: '1.4.0', from: '1.3.0' });
  }, 120_000);
});
