import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StatusBody } from '../protocol/status-body.js';
import { signAsCli } from '../protocol/signing.js';
import { PolicyStore } from '../store/policy-store.js';
import { readToken } from '../store/token.js';
import { killPm2Daemon, switchyard } from './cli-child.js';
import { renderFrame } from './live-view.js';
import { DEMO_SERVICE, DEMO_VERSIONS, writeDemoProject, type DemoProject } from './project.js';
import { TerminalFleet, type TerminalCounters } from './terminals.js';

export interface DemoOptions {
  dir?: string;
  terminals: number;
  durationMs: number;
  keep: boolean;
  tty: boolean;
  /** Lines for people (stderr). */
  say: (line: string) => void;
  /** The live frame: redrawn in place on a TTY. */
  frame: (text: string) => void;
}

export interface DemoSummary extends TerminalCounters {
  ok: boolean;
  terminals: number;
  oldVersion: string;
  newVersion: string;
  oldRetired: boolean;
  oldRetiredAfterMs: number | null;
  deployMs: number;
  totalMs: number;
  dir: string;
  kept: boolean;
  failures: string[];
  /** The first few reasons a login or resolve was retried. */
  retried: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function status(project: DemoProject, token: string | undefined): Promise<StatusBody | undefined> {
  if (token === undefined) return undefined;
  try {
    const response = await fetch(`${project.routerUrl}/v1/status`, { headers: signAsCli(token, 'GET', '/v1/status'), signal: AbortSignal.timeout(1000) });
    return response.ok ? ((await response.json()) as StatusBody) : undefined;
  } catch {
    return undefined;
  }
}

async function retired(store: PolicyStore, version: string): Promise<boolean> {
  const policy = await store.read();
  const processes = policy.services[DEMO_SERVICE]?.processes.filter((p) => p.version === version) ?? [];
  return processes.length > 0 && processes.every((p) => p.state === 'retired');
}

/**
 * The whole story on this machine: the router and version 1.0.0 under a
 * PM2 of their own, simulated terminals, a rollout to 1.1.0 while they play,
 * the tally live, 1.0.0 drained to zero and retired, then a clean-up.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const [oldVersion, newVersion] = DEMO_VERSIONS;
  const dir = opts.dir === undefined ? await mkdtemp(join(tmpdir(), 'switchyard-demo-')) : resolve(opts.dir);
  const project = await writeDemoProject(dir);
  const child = { configFile: project.configFile, pm2Home: project.pm2Home };
  const fleet = new TerminalFleet({ routerUrl: project.routerUrl, service: DEMO_SERVICE, arriveWith: oldVersion, concurrent: opts.terminals, sessionMs: [2000, 5000], requestEveryMs: 400 });
  let deployMs = 0;
  let retiredAt: number | null = null;
  try {
    opts.say(`demo project in ${dir} (PM2_HOME ${project.pm2Home})`);
    await switchyard(['router', 'start'], child);
    opts.say(`router started at ${project.routerUrl}`);
    await switchyard(['deploy', oldVersion], child);
    opts.say(`${DEMO_SERVICE}@${oldVersion} deployed; ${opts.terminals} terminals arriving with version ${oldVersion}`);
    const token = await readToken(project.stateDir);
    const store = new PolicyStore(project.stateDir);
    fleet.start();

    const loadStarted = Date.now();
    const deployAt = loadStarted + Math.max(3000, opts.durationMs * 0.25);
    const arrivalsUntil = loadStarted + opts.durationMs;
    const giveUpAt = arrivalsUntil + 60_000;
    let deploying: Promise<unknown> | undefined;
    let deployError: unknown;
    while (Date.now() < giveUpAt) {
      if (deploying === undefined && Date.now() >= deployAt) {
        opts.say(`deploying ${newVersion} while terminals play`);
        const t0 = Date.now();
        deploying = switchyard(['deploy', newVersion], child).then(
          () => {
            deployMs = Date.now() - t0;
            opts.say(`${newVersion} is the target; ${oldVersion} drains as its terminals leave`);
          },
          (error: unknown) => {
            deployError = error;
          },
        );
      }
      if (deployError !== undefined) throw deployError;
      opts.frame(renderFrame(await status(project, token), DEMO_SERVICE, fleet.counters, Date.now() - started, opts.tty));
      if (retiredAt === null && deploying !== undefined && (await retired(store, oldVersion))) {
        retiredAt = Date.now();
        opts.say(`${oldVersion} reached zero terminals and was retired after ${((retiredAt - deployAt) / 1000).toFixed(1)}s`);
      }
      if (retiredAt !== null && Date.now() >= arrivalsUntil) break;
      await sleep(500);
    }
    await deploying;
    opts.say('no new terminals now; waiting for the last sessions to end');
    await fleet.finish();
    opts.frame(renderFrame(await status(project, token), DEMO_SERVICE, fleet.counters, Date.now() - started, opts.tty));
  } finally {
    await fleet.finish();
    if (!opts.keep) {
      await switchyard(['router', 'stop'], child).catch(() => undefined);
      await killPm2Daemon(project.pm2Home);
      await rm(project.pm2Home, { recursive: true, force: true });
      if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    }
  }
  const c = fleet.counters;
  const ok = c.requestsFailed === 0 && c.sessionsCutOff === 0 && c.loginsFailed === 0 && retiredAt !== null;
  return {
    ok,
    terminals: opts.terminals,
    ...c,
    oldVersion,
    newVersion,
    oldRetired: retiredAt !== null,
    oldRetiredAfterMs: retiredAt === null ? null : retiredAt - started,
    deployMs,
    totalMs: Date.now() - started,
    dir,
    kept: opts.keep,
    failures: fleet.failures,
    retried: fleet.retried,
  };
}
