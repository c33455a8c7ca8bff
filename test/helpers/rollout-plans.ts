import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyWebhookSignature, type SwitchyardEvent } from '../../src/protocol/events.js';
import { startLoad, type Load } from '../reliability/support/load.js';
import { editConfig, ok } from '../reliability/support/project.js';

export { editConfig, ok };
import type { ChildTracker } from './child-processes.js';
import { assertNothingLeft, makeRolloutProject, trackedPidCount, waitFor, type ReleaseKind, type RolloutProject } from './rollout-project.js';

/**
 * What the progressive-rollout suites share: a project whose service has a
 * rollout analysis fit for tests (intervals of a second), the router under
 * PM2 and a first version deployed; a webhook receiver that checks every
 * signature; the policy's history read as a list of revisions.
 */

export interface PlanProjectOptions {
  prefix: string;
  mode: 'proxy' | 'redirect';
  /** Release kind of each version; the first is deployed as the target. */
  releases: Record<string, ReleaseKind>;
  /** services.<name>.rollout.analysis, merged over the test defaults below. */
  analysis?: Record<string, unknown>;
  /** services.<name>.rollout.steps (the plan `--steps` without a value runs), inline form. */
  steps?: string;
  /** Top-level notify hooks (secretFile paths relative to the project). */
  notify?: Array<{ url: string; secretFile: string }>;
  /** Files to write in the project before the router starts (hook secrets). */
  files?: Record<string, string>;
  /** More router settings (e.g. dataPlane: haproxy). */
  router?: Record<string, unknown>;
  /** Skip `router start` and the first deploy (the caller runs its own routers). */
  bare?: boolean;
  heartbeatInterval?: string;
}

/** One verdict a second, two fails abort, three inconclusives pause, 5 requests judge, 5 % errors fail. */
export const TEST_ANALYSIS = { interval: '1s', failureLimit: 2, inconclusiveLimit: 3, minRequests: 5, maxErrorRate: '5%', maxRestarts: 0 };

export async function planProject(opts: PlanProjectOptions): Promise<RolloutProject> {
  const versions = Object.keys(opts.releases);
  const project = await makeRolloutProject({ prefix: opts.prefix, heartbeatInterval: opts.heartbeatInterval ?? '300ms', readinessTimeout: '20s', killTimeout: '3s' });
  try {
    for (const [version, kind] of Object.entries(opts.releases)) await project.addRelease(version, kind);
    for (const [name, text] of Object.entries(opts.files ?? {})) await writeFile(join(project.dir, name), text, { mode: 0o600 });
    await editConfig(project, (doc) => {
      doc.setIn(['router', 'mode'], opts.mode);
      for (const [key, value] of Object.entries(opts.router ?? {})) doc.setIn(['router', key], doc.createNode(value));
      doc.setIn(['services', project.service, 'rollout'], doc.createNode({ ...(opts.steps === undefined ? {} : { steps: opts.steps }), analysis: { ...TEST_ANALYSIS, ...opts.analysis } }));
      if (opts.notify !== undefined) doc.set('notify', doc.createNode(opts.notify));
    });
    if (opts.bare === true) return project;
    ok(await project.cli(['router', 'start'], { timeoutMs: 60_000 }), 'switchyard router start');
    ok(await project.cli(['deploy', versions[0]!], { timeoutMs: 60_000 }), `switchyard deploy ${versions[0]}`);
    project.daemonPid();
    await project.pm2Jlist();
  } catch (error) {
    await project.cleanup().catch(() => undefined);
    throw error;
  }
  return project;
}

/**
 * Terminals under load for a rollout suite, in their own process: 30 at a
 * time arriving with `arriveWith`, each holding a WebSocket session of 1.5
 * to 3 s and sending a request every 80 ms or so (about 300 a second in
 * all); resolves once 20 are online.
 */
export async function terminalsUnderLoad(children: ChildTracker, routerUrl: string, service: string, mode: 'proxy' | 'redirect', arriveWith = '1.0.0'): Promise<Load> {
  const load = await startLoad(children, {
    routerUrl, service, arriveWith, concurrent: 30, sessionMs: [1500, 3000], requestEveryMs: 80, mode, resolveEvery: 0, retries: 0, maxMs: 150_000,
  });
  await load.waitTick('terminals online', (t) => t.onlineTotal >= 20, 30_000);
  return load;
}

/** A suite's end: its children killed, the project cleaned up, and nothing of ours left running. */
export async function endSuite(children: ChildTracker, project: RolloutProject | undefined): Promise<void> {
  await children.killAll();
  try {
    await project?.cleanup();
  } finally {
    if (trackedPidCount() === 0) throw new Error('no pid was tracked: assertNothingLeft would check nothing');
    await assertNothingLeft();
  }
}

/** Every revision of the policy, oldest first, from the history folder. */
export async function history(project: RolloutProject): Promise<any[]> {
  const dir = join(project.stateDir, 'history');
  const names = (await readdir(dir)).filter((n) => /^\d+\.json$/.test(n)).sort((a, b) => Number(a.slice(0, -5)) - Number(b.slice(0, -5)));
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8'))));
}

/** The steps a rollout moved to, in history order, as "<step>" per revision that changed it; each once when none is committed twice. */
export function stepsCommitted(revisions: readonly any[], service: string, id: string): number[] {
  const steps: number[] = [];
  let last = -1;
  for (const r of revisions) {
    const rollout = r.services?.[service]?.rollout;
    if (rollout?.id !== id) continue;
    if (rollout.step !== last) steps.push(rollout.step);
    last = rollout.step;
  }
  return steps;
}

/** When (store time, ms) the rollout first reached `state`, from the history. */
export function reachedAt(revisions: readonly any[], service: string, id: string, state: string): number | undefined {
  const r = revisions.find((rev) => rev.services?.[service]?.rollout?.id === id && rev.services[service].rollout.state === state);
  return r === undefined ? undefined : Date.parse(r.updatedAt);
}

export interface Received {
  event: SwitchyardEvent;
  signed: boolean;
  at: number;
}

/** A webhook receiver on loopback that checks each signature against `secret`. */
export async function webhookReceiver(secret: string): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ event: JSON.parse(body.toString('utf8')) as SwitchyardEvent, signed: verifyWebhookSignature(secret, body, req.headers['x-switchyard-signature'] as string | undefined), at: Date.now() });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => new Promise((r) => server.close(() => r())) };
}

/** Whether /metrics counts a request of `version`: the router's proxy's, or (`reported`) the processes' own from their heartbeats. */
export function countedInMetrics(project: RolloutProject, version: string, reported: boolean): () => Promise<boolean> {
  const name = reported ? 'switchyard_reported_requests_total' : 'switchyard_requests_total';
  const pattern = new RegExp(`${name}\\{[^}]*version="${version.replaceAll('.', '\\.')}"[^}]*\\} [1-9]`);
  return async () => pattern.test(await project.metrics());
}

/** The first time `seen` says yes (the canary's first traffic), polled every 25 ms until `stop`. */
export function firstTraffic(seen: () => Promise<boolean>, stop: () => boolean): Promise<number | undefined> {
  return waitFor('the first request of the canary', async () => {
    if (stop()) return -1;
    return (await seen()) ? Date.now() : undefined;
  }, { timeoutMs: 60_000, intervalMs: 25 }).then((at) => (at === -1 ? undefined : at));
}

/** The value of a counter (summed over its labels matching `labels`) in a /metrics text. */
export function counter(metrics: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    if (labels !== '' && !line.includes(labels)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.split(' ').at(-1));
  }
  return sum;
}
