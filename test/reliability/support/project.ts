import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { makeRolloutProject, waitFor, type RolloutProject } from '../../helpers/rollout-project.js';

/**
 * A rollout project (test/helpers/rollout-project.ts: temp folder, its own
 * short PM2_HOME, releases of the sample service) with the router started
 * under PM2 and the first version deployed, ready to be put under load.
 */

export const OLD = '1.0.0';
export const NEW = '1.1.0';

export interface LoadedProjectOptions {
  prefix: string;
  mode: 'redirect' | 'proxy';
  heartbeatInterval: string;
  staleAfter?: number;
  instances?: number;
  grace?: number;
  /** More router settings (e.g. dataPlane: haproxy). */
  router?: Record<string, unknown>;
}

/** Edits the project's YAML config in place. */
export async function editConfig(project: RolloutProject, edit: (doc: ReturnType<typeof parseDocument>) => void): Promise<void> {
  const doc = parseDocument(await readFile(project.configPath, 'utf8'));
  edit(doc);
  await writeFile(project.configPath, doc.toString());
}

/** Checks a CLI result, naming the command and its output when it failed. */
export function ok(result: { exitCode: number; stdout: string; stderr: string }, what: string): void {
  if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

export async function loadedProject(opts: LoadedProjectOptions): Promise<RolloutProject> {
  const project = await makeRolloutProject({
    versions: [OLD, NEW],
    prefix: opts.prefix,
    heartbeatInterval: opts.heartbeatInterval,
    staleAfter: opts.staleAfter ?? 3,
    grace: opts.grace ?? 2,
    readinessTimeout: '30s',
    killTimeout: '5s',
  });
  try {
    await editConfig(project, (doc) => {
      doc.setIn(['router', 'mode'], opts.mode);
      for (const [key, value] of Object.entries(opts.router ?? {})) doc.setIn(['router', key], doc.createNode(value));
      doc.setIn(['services', project.service, 'instances'], opts.instances ?? 1);
    });
    ok(await project.cli(['router', 'start'], { timeoutMs: 60_000 }), 'switchyard router start');
    ok(await project.cli(['deploy', OLD], { timeoutMs: 90_000 }), `switchyard deploy ${OLD}`);
    // Remember every pid for assertNothingLeft().
    project.daemonPid();
    await project.pm2Jlist();
    await waitFor('the router to see the first version', async () => {
      const status = await project.routerStatus();
      const processes = status?.services[project.service]?.processes ?? [];
      return processes.length > 0 && processes.every((p: any) => !p.heartbeat.stale) ? true : undefined;
    }, { timeoutMs: 30_000 });
  } catch (error) {
    await project.cleanup().catch(() => undefined);
    throw error;
  }
  return project;
}

/** Whether every process of `version` is retired in the policy file. */
export async function retired(project: RolloutProject, version: string): Promise<boolean> {
  const policy = await project.policy();
  const processes = (policy.services[project.service]?.processes ?? []).filter((p: any) => p.version === version);
  return processes.length > 0 && processes.every((p: any) => p.state === 'retired');
}

/** The `reliability:` line every test prints, so a run's figures can be grepped out of the log. */
export function report(test: string, words: string): void {
  console.log(`reliability: ${test}: ${words}`);
}
