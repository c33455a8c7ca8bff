import type { CliJson, RolloutProject } from './rollout-project.js';
import { waitFor } from './rollout-project.js';
import { canaryIds, startLoginProbe, type ProbeAnswer } from './login-probe.js';
import { firstTraffic, history, reachedAt } from './rollout-plans.js';

export interface FailingCanaryRun {
  deploy: CliJson<any>;
  /** When the canary's first request was counted (undefined: never seen). */
  firstAt: number | undefined;
  /** When the abort was committed (store time). */
  abortedAt: number | undefined;
  /** When the router served the abort's generation. */
  loadedAt: number;
  /** The fail verdicts the deploy reported, as "errors/requests". */
  fails: string[];
  /** Logins of terminals in the canary's share told to run the canary: before the abort, and after the router served it. */
  toldBefore: ProbeAnswer[];
  toldAfter: ProbeAnswer[];
  answeredAfter: number;
  policy: any;
  /** The revision that aborted it. */
  abortRevision: any;
}

/**
 * `deploy <version> --steps 20:30s,100 --wait` of a version that fails,
 * with terminals in the canary's share logging in all along (running
 * `from`), and the canary's first request watched by `seen` (in /metrics,
 * or HAProxy's counters). After the abort, the logins go on for 1.5 s past
 * the moment the router served it.
 */
export async function runFailingCanary(project: RolloutProject, version: string, from: string, seen: () => Promise<boolean>): Promise<FailingCanaryRun> {
  const probe = startLoginProbe(project.routerUrl, project.service, from, canaryIds(20, 40));
  let done = false;
  const first = firstTraffic(seen, () => done);
  const deploy = await project.cliJson(['deploy', version, '--steps', '20:30s,100', '--wait'], { timeoutMs: 90_000 });
  done = true;
  const firstAt = await first;
  const policy = await project.policy();
  const revisions = await history(project);
  const id = policy.services[project.service].rollout?.id;
  const abortedAt = reachedAt(revisions, project.service, id, 'aborted');
  const loadedAt = await waitFor('the router to serve the abort', async () => ((await (await fetch(`${project.routerUrl}/healthz`)).json()) as { generation: number }).generation >= policy.generation ? Date.now() : undefined);
  await new Promise((r) => setTimeout(r, 1500));
  await probe.stop();
  const told = probe.answers.filter((a) => a.told === version);
  return {
    deploy, firstAt, abortedAt, loadedAt, policy,
    fails: (deploy.json.verdicts ?? []).filter((v: any) => v.verdict === 'fail').map((v: any) => `${v.errors}/${v.requests}`),
    toldBefore: told.filter((a) => abortedAt !== undefined && a.sentAt < abortedAt),
    toldAfter: told.filter((a) => a.sentAt > loadedAt),
    answeredAfter: probe.answers.filter((a) => a.sentAt > loadedAt).length,
    abortRevision: revisions.find((r) => r.services?.[project.service]?.rollout?.id === id && r.services[project.service].rollout.state === 'aborted'),
  };
}
