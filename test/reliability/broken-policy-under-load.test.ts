import { cliHeaders } from '../helpers/signed.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/store/atomic-write.js';
import { ChildTracker } from '../helpers/child-processes.js';
import { assertNothingLeft, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { describeLoad, startLoad } from './support/load.js';
import { loadedProject, OLD, report } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * "A broken policy file never takes the router down" (DESIGN.md), under
 * load in proxy mode (every request, resolve, login and session goes
 * through the router): the policy file is broken in four ways, by an atomic
 * replace and by a hand edit in place; each time the router keeps serving
 * the last good generation, /healthz says the file is broken, no request
 * fails or even needs a retry (the router never stops answering), and a
 * valid file written afterwards is picked up.
 */

const children = new ChildTracker();
let project: RolloutProject | undefined;

afterEach(async () => {
  await children.killAll();
  await project?.cleanup();
});
afterAll(async () => {
  await children.killAll();
  await assertNothingLeft();
});

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Broken texts made from the last good policy. */
const BROKEN: Array<{ kind: string; make: (good: string) => string }> = [
  { kind: 'invalid JSON', make: (good) => `${good.slice(0, -2)},,}}` },
  {
    kind: 'schema-invalid',
    make: (good) => {
      const policy = JSON.parse(good);
      const svc = Object.values(policy.services)[0] as any;
      svc.processes[0].port = 99_999;
      svc.processes[0].state = 'running';
      svc.match = 'fuzzy';
      return JSON.stringify(policy, null, 2);
    },
  },
  { kind: 'empty file', make: () => '' },
  { kind: 'truncated', make: (good) => good.slice(0, Math.floor(good.length / 2)) },
];

/** /healthz with the token: the file state is only shown to callers with credentials. */
async function health(url: string): Promise<any> {
  const response = await fetch(`${url}/healthz`, { headers: cliHeaders(project!.token, '/healthz'), signal: AbortSignal.timeout(2000) });
  return { status: response.status, ...((await response.json()) as object) };
}

describe('broken policy file under load', () => {
  it(`keeps serving the last good generation through ${BROKEN.length * SIZE.brokenRounds} broken writes, every request first-try (0 retries, 0 failed)`, async () => {
    const started = Date.now();
    project = await loadedProject({ prefix: 'sy-rel-broken-', mode: 'proxy', heartbeatInterval: '500ms' });
    const p = project;
    const policyPath = join(p.stateDir, 'policy.json');
    const load = await startLoad(children, {
      routerUrl: p.routerUrl,
      service: p.service,
      arriveWith: OLD,
      concurrent: Math.ceil(SIZE.sessions * 1.05),
      sessionMs: SIZE.sessionMs,
      requestEveryMs: SIZE.requestEveryMs,
      mode: 'proxy',
      resolveEvery: 2,
      retries: 3,
      maxMs: 300_000,
    });
    await load.waitTick(`${SIZE.sessions} sessions open`, (t) => t.onlineTotal >= SIZE.sessions, 60_000);

    const seen: string[] = [];
    const problems: string[] = [];
    for (let round = 0; round < SIZE.brokenRounds; round += 1) {
      for (const [i, broken] of BROKEN.entries()) {
        const goodText = await readFile(policyPath, 'utf8');
        const good = JSON.parse(goodText);
        const inPlace = (round + i) % 2 === 1;
        const text = broken.make(goodText);
        // A hand edit in place (truncate, then write) or an atomic replace (temp file, rename).
        if (inPlace) await writeFile(policyPath, text);
        else await writeFileAtomic(policyPath, text);
        const h = await waitFor(`/healthz to report the ${broken.kind} policy file`, async () => {
          const answer = await health(p.routerUrl);
          return answer.fileBroken === true ? answer : undefined;
        }, { timeoutMs: 10_000, intervalMs: 20 });
        if (h.status !== 200 || h.ok !== true || h.generation !== good.generation) problems.push(`${broken.kind}: healthz ${JSON.stringify(h)}`);
        const resolved = await fetch(`${p.routerUrl}/v1/resolve?service=${p.service}&version=${OLD}`, { signal: AbortSignal.timeout(2000) });
        if (resolved.status !== 200) problems.push(`${broken.kind}: resolve answered ${resolved.status}`);
        const status = await p.routerStatus();
        if (status?.generation !== good.generation) problems.push(`${broken.kind}: status serves generation ${status?.generation}, not ${good.generation}`);
        seen.push(`${broken.kind} (${inPlace ? 'in place' : 'atomic'}): "${String(h.error).replace(policyPath, 'policy.json').slice(0, 90)}"`);
        // Terminals keep playing on the broken file for a while.
        await sleep(1500);

        // A valid revision written by hand afterwards is picked up.
        const next = { ...good, generation: good.generation + 1, updatedAt: new Date().toISOString() };
        await writeFileAtomic(policyPath, `${JSON.stringify(next, null, 2)}\n`);
        await waitFor(`generation ${next.generation} to be picked up`, async () => {
          const answer = await health(p.routerUrl);
          return answer.generation === next.generation && answer.fileBroken === false ? true : undefined;
        }, { timeoutMs: 10_000, intervalMs: 20 });
        await sleep(500);
      }
    }

    const result = await load.finish(90_000);
    const c = result.counters;
    const finalHealth = await health(p.routerUrl);
    const policyErrors = (await p.metrics()).match(/switchyard_policy_load_errors_total(?:\{[^}]*\})? (\d+)/)?.[1];
    report(
      `broken-policy-under-load (proxy, ${SIZE.name})`,
      `${seen.length} broken writes, router kept the last good generation each time (${problems.length} problems), each fixed by a valid write picked up; ` +
        `policy load errors counted by the router: ${policyErrors ?? 'n/a'}; ${describeLoad(result)}; whole test ${((Date.now() - started) / 1000).toFixed(0)} s\n` +
        `  ${seen.join('\n  ')}`,
    );

    expect(problems).toEqual([]);
    expect(seen).toHaveLength(BROKEN.length * SIZE.brokenRounds);
    expect(result.failures).toEqual([]);
    expect(result.finishTimedOut).toBe(false);
    expect(c.requestsFailed).toBe(0);
    expect(c.sessionsCutOff).toBe(0);
    expect(c.loginsFailed).toBe(0);
    // The router keeps answering on a broken file: a retry would mean it did not.
    expect({ requestRetries: c.requestRetries, loginRetries: c.loginRetries, retried: result.retried }).toEqual({ requestRetries: 0, loginRetries: 0, retried: [] });
    expect(c.sessionsCompleted).toBe(c.sessionsOpened);
    expect(result.peakOnline).toBeGreaterThanOrEqual(SIZE.sessions);
    expect(finalHealth).toMatchObject({ status: 200, ok: true, fileBroken: false });
  });
});
