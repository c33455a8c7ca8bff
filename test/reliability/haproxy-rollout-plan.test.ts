import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverName } from '../../src/haproxy/desired.js';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { parseServerStats } from '../../src/haproxy/server-stats.js';
import { ChildTracker } from '../helpers/child-processes.js';
import { runFailingCanary } from '../helpers/failing-canary.js';
import { freePort } from '../helpers/free-port.js';
import { haproxyMissing } from '../helpers/haproxy.js';
import { waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { endSuite, history, planProject, reachedAt, stepsCommitted, terminalsUnderLoad } from '../helpers/rollout-plans.js';
import { report } from './support/project.js';

/**
 * Progressive rollouts with HAProxy as the data plane, where the router
 * sees none of the terminals' requests: each verdict is judged on
 * HAProxy's own per-server counters (runtime API `show stat`), summed per
 * version. A healthy plan completes; a canary failing 30% of its requests
 * is aborted from those counters. Terminals log in, hold sessions and
 * send requests through HAProxy's address only.
 */
const missing = haproxyMissing();
const children = new ChildTracker();
let project: RolloutProject;
let edgeUrl: string;
let api: RuntimeApi;

describe.skipIf(missing)('progressive rollouts through HAProxy', () => {
  beforeAll(async () => {
    const edgePort = await freePort();
    edgeUrl = `http://127.0.0.1:${edgePort}`;
    project = await planProject({
      prefix: 'sy-rel-haproxy-plan-', mode: 'proxy',
      releases: { '1.0.0': 'counting', '1.1.0': 'counting', '1.2.0': 'failing' },
      router: { dataPlane: 'haproxy', haproxy: { listen: `127.0.0.1:${edgePort}`, threads: 1 } },
    });
    api = new RuntimeApi(join(project.stateDir, 'haproxy', 'admin.sock'));
    await waitFor('HAProxy to answer', async () => (await api.workerPid().catch(() => undefined)) ?? undefined, { timeoutMs: 30_000 });
    await terminalsUnderLoad(children, edgeUrl, project.service, 'proxy');
  }, 120_000);

  afterAll(async () => endSuite(children, project), 60_000);

  it('a healthy plan completes on HAProxy\'s counters', async () => {
    const deploy = await project.cliJson(['deploy', '1.1.0', '--steps', '20:2s,100', '--wait'], { timeoutMs: 90_000 });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    const id = (await project.policy()).services.lobby.rollout.id;
    const revisions = await history(project);
    const wallMs = reachedAt(revisions, 'lobby', id, 'completed')! - Date.parse(deploy.json.rollout.startedAt);
    const verdicts = deploy.json.rollout.verdicts;
    report('rollout plan through HAProxy', `healthy 20:2s,100 completed ${wallMs} ms after its first step; verdicts (requests/errors): ${verdicts.map((v: any) => `${v.verdict} ${v.requests}/${v.errors}`).join(', ')}`);
    expect(stepsCommitted(revisions, 'lobby', id)).toEqual([0, 1]);
    expect(verdicts.at(-1)).toMatchObject({ verdict: 'pass', p99Ms: null });
    expect(verdicts.some((v: any) => v.requests > 0)).toBe(true);
    expect(wallMs).toBeLessThanOrEqual(2000 + 2 * 1000 + 2000);
  }, 120_000);

  it('a canary failing 30% of its requests is aborted on HAProxy\'s counters', async () => {
    // The canary's first request, as HAProxy counts it for the canary's server.
    const canaryServers = async () => new Set((await project.policy()).services.lobby.processes.filter((p: any) => p.version === '1.2.0').map((p: any) => serverName(p.address, p.port)));
    const seen = async () => {
      const servers = await canaryServers();
      return parseServerStats(await api.send('show stat -1 4 -1')).some((s) => servers.has(s.server) && s.stot > 0);
    };
    const run = await runFailingCanary(project, '1.2.0', '1.1.0', seen);
    expect(run.deploy.exitCode, run.deploy.stderr).toBe(1);
    expect(run.deploy.json).toMatchObject({ ok: false, error: 'rollout_aborted', version: '1.2.0' });
    report('rollout plan through HAProxy', `failing canary aborted ${run.abortedAt! - run.firstAt!} ms after its first request reached HAProxy's counters (bound 5000); fails ${run.fails.join(', ')}; logins told 1.2.0 after the abort: ${run.toldAfter.length} of ${run.answeredAfter}`);
    expect(run.abortedAt! - run.firstAt!).toBeLessThanOrEqual(2 * 1000 + 3000);
    expect(run.toldAfter).toEqual([]);
  }, 120_000);
});
