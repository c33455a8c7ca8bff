import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { pidAlive } from '../helpers/pm2-home.js';
import { assertNothingLeft, makeRolloutProject, waitFor, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * `logs` and `down` on a real project run as a user would: the built CLI, a
 * real router and PM2 under the project's own PM2_HOME.
 */
let project: RolloutProject;
const PROCESS_LINE = /^lobby@1\.0\.0#0\S* \| lobby@1\.0\.0#0\S* \(version 1\.0\.0\) listening on \d+$/m;

beforeAll(async () => {
  project = await makeRolloutProject({ versions: ['1.0.0', '1.1.0'] });
  expect((await project.cli(['router', 'start'])).exitCode).toBe(0);
  const deployed = await project.cli(['deploy', '1.0.0']);
  expect(deployed.exitCode, deployed.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await assertNothingLeft();
}, 120_000);

describe('logs', () => {
  it("prints the target's log lines, each prefixed with its process id", async () => {
    await waitFor('the sample service to log its start', async () => (PROCESS_LINE.test((await project.cli(['logs'])).stdout) ? true : undefined), { timeoutMs: 20_000, intervalMs: 300 });
    const result = await project.cli(['logs', '--lines', '5']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(PROCESS_LINE);
    expect(result.stdout.trim().split('\n').every((l) => /^lobby@1\.0\.0#0\S* \| /.test(l))).toBe(true);
  });

  it('--json gives one document with the lines per process; --lines limits them', async () => {
    const result = await project.cli(['logs', '1.0.0', '--lines', '1', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as { ok: boolean; version: string; processes: Array<{ id: string; host: string; lines: string[] }> };
    expect(body).toMatchObject({ ok: true, service: 'lobby', version: '1.0.0' });
    expect(body.processes).toHaveLength(1);
    expect(body.processes[0]).toMatchObject({ host: 'local', lines: [expect.any(String)] });
  });

  it('a version with no processes, a bad --lines, and --follow with --json are usage errors (exit 2)', async () => {
    const missing = await project.cli(['logs', '9.9.9', '--json']);
    expect(missing.exitCode).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: 'version_not_deployed', message: expect.stringContaining('1.0.0') });
    expect((await project.cli(['logs', '--lines', 'many'])).exitCode).toBe(2);
    expect((await project.cli(['logs', '--follow', '--json'])).exitCode).toBe(2);
  });

  it('--follow prints lines written after it started, and stops on Ctrl-C (SIGINT) with exit 0', async () => {
    const child = execa('node', [BIN, 'logs', '--follow', '--lines', '1'], { cwd: project.dir, env: project.env, extendEnv: true, reject: false, stdin: 'ignore', timeout: 60_000 });
    try {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitFor('the last line', () => (PROCESS_LINE.test(out) ? true : undefined), { timeoutMs: 20_000, last: () => out });
      // PM2 writes the process's output here (its file name has "#" made safe); a line the process writes now.
      const logs = join(project.stateDir, 'logs');
      const file = (await readdir(logs)).find((f) => f.startsWith('lobby@1.0.0'))!;
      await appendFile(join(logs, file), 'a line written later\n');
      await waitFor('the new line', () => (/^lobby@1\.0\.0#0\S* \| a line written later$/m.test(out) ? true : undefined), { timeoutMs: 20_000, last: () => out });
      child.kill('SIGINT');
      const result = await child;
      expect([result.exitCode, result.signal], String(result.stderr)).toEqual([0, undefined]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('down', () => {
  it('refuses without a terminal unless --yes, naming the flag, and stops nothing', async () => {
    const result = await project.cli(['down', '--json']);
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: 'confirmation_required', message: expect.stringContaining('--yes') });
    expect(project.daemonPid()).toBeDefined();
  });

  it('asks on a terminal (a pty made by script(1)), and a "no" stops nothing', async () => {
    const child = execa('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} down`, '/dev/null'], {
      cwd: project.dir, env: { ...project.env, CI: undefined }, extendEnv: true, reject: false, stdin: 'pipe', timeout: 60_000,
    });
    try {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitFor('the question', () => (out.includes('(y/N)') ? true : undefined), { timeoutMs: 30_000, last: () => out });
      child.stdin!.write('n\r');
      const result = await child;
      expect(result.exitCode, out).toBe(0);
      expect(out).toContain('nothing was stopped');
      expect(project.daemonPid()).toBeDefined();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--yes stops the router, the processes and the PM2 daemon, ends on its own, and keeps the policy and history', async () => {
    const daemon = project.daemonPid()!;
    const before = await project.policy();
    const pids = (await project.pm2Jlist()).map((p) => p.pid).filter((p) => p > 0);
    expect(pids.length).toBe(2); // the router and lobby@1.0.0#0
    const result = await project.cli(['down', '--yes', '--json'], { timeoutMs: 60_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as { ok: boolean; hosts: Array<{ host: string; stopped: string[] }>; daemons: Array<{ stopped: boolean }> };
    expect(body.ok).toBe(true);
    expect(body.hosts).toEqual([{ host: 'local', stopped: [expect.stringMatching(/^lobby@1\.0\.0#0/), 'switchyard-router'] }]);
    expect(body.daemons).toEqual([expect.objectContaining({ stopped: true, others: [] })]);
    expect(pidAlive(daemon)).toBe(false);
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(await fetch(`${project.routerUrl}/healthz`).then(() => 'up', () => 'down')).toBe('down');
    expect((await project.policy()).generation).toBe(before.generation);
    expect(existsSync(join(project.stateDir, 'history'))).toBe(true);

    // The logs PM2 wrote stay readable with no daemon.
    expect((await project.cli(['logs', '1.0.0'])).stdout).toMatch(PROCESS_LINE);
    expect(project.daemonPid()).toBeUndefined();
  });

  it('run again, with nothing running, says so and succeeds', async () => {
    const result = await project.cli(['down', '--yes']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('no PM2 daemon was running');
  });
});
