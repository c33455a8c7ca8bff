import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { SSH_SKIP, startSshdHosts, type SshdFleet } from '../helpers/sshd.js';
import { makeRemoteProject, type RemoteProject } from './remote-project.js';
import { escapeRegExp as escaped, mustInSlot } from './slots.js';

/**
 * `logs` and `down` when the processes run on two ssh hosts: the log lines
 * are read over ssh (and followed with tail -F over ssh, which must not
 * outlive the command), and down stops every process on every host.
 */
let fleet: SshdFleet;
let project: RemoteProject;
/** The ids 1.0.0 was started under on east (slot 0) and west (slot 1), incarnation included. */
let ids: [string, string];
let router: Awaited<ReturnType<RemoteProject['startRouter']>>;

beforeAll(async () => {
  if (SSH_SKIP !== undefined) return;
  fleet = await startSshdHosts(['east', 'west']);
  project = await makeRemoteProject(fleet, { ports: '17450-17489' });
  router = await project.startRouter();
  const deployed = await project.json(['deploy', '1.0.0', '--sync', 'release']);
  expect(deployed.exitCode, deployed.stderr).toBe(0);
  const policy = await project.policy();
  ids = [mustInSlot(policy, '1.0.0', 0).id, mustInSlot(policy, '1.0.0', 1).id];
});

afterAll(async () => {
  await project?.cleanup();
  await fleet?.cleanup();
});

/** The line the test server logs once it listens, prefixed by logs with the id of its process. */
const LINE = (i: number) => new RegExp(`^${escaped(ids[i]!)} \\| ${escaped(ids[i]!)} listening on \\d+$`, 'm');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** tail processes following a log of this project's hosts (the hosts are this machine). */
async function tails(): Promise<string[]> {
  const ps = await execa('ps', ['-eo', 'pid,args'], { reject: false });
  return String(ps.stdout).split('\n').filter((l) => /tail -n \d+ -F/.test(l) && fleet.hosts.some((h) => l.includes(h.pm2Home)));
}

describe.skipIf(SSH_SKIP !== undefined)('logs and down on ssh hosts', () => {
  it('logs shows the lines of the process on each host, prefixed with its id', async () => {
    await until('both processes to log', async () => {
      const out = (await project.cli(['logs'])).stdout;
      return LINE(0).test(out) && LINE(1).test(out);
    });
    const { exitCode, body } = await project.json(['logs', '1.0.0', '--lines', '5']);
    expect(exitCode).toBe(0);
    expect(body.processes.map((p: any) => [p.id, p.host, p.lines.some((l: string) => /listening on/.test(l))])).toEqual([
      [ids[0], 'east', true],
      [ids[1], 'west', true],
    ]);
  });

  it('logs --follow prints what a remote process writes later, and leaves no tail behind after Ctrl-C', async () => {
    const child = execa('node', [BIN, 'logs', '--follow', '--lines', '1'], { cwd: project.dir, env: { ...project.pm2.env, CI: 'true', NO_COLOR: '1' }, reject: false, stdin: 'ignore', timeout: 60_000 });
    try {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await until('the last line of each host', () => LINE(0).test(out) && LINE(1).test(out));
      const east = fleet.host('east');
      // The log file is named after the full id ('#' is not kept in file names).
      await east.ssh(`echo 'written later on east' >> '${east.pm2Home}/logs/${ids[0].replace('#', '_')}.log'`);
      await until('the new line', () => new RegExp(`^${escaped(ids[0])} \\| written later on east$`, 'm').test(out));
      expect((await tails()).length).toBe(2);
      child.kill('SIGINT');
      const result = await child;
      expect([result.exitCode, result.signal], String(result.stderr)).toEqual([0, undefined]);
      await until('the remote tails to end', async () => (await tails()).length === 0, 15_000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('down --yes stops the processes on every host and keeps the policy', async () => {
    // down stops the routers PM2 runs; this one runs in the foreground, and would start what down stops again.
    await router.stop();
    const before = (await project.policy()).generation;
    const { exitCode, body, stderr } = await project.json(['down', '--yes']);
    expect(exitCode, stderr).toBe(0);
    expect(body.hosts).toEqual([{ host: 'east', stopped: [ids[0]] }, { host: 'west', stopped: [ids[1]] }]);
    expect(await fleet.host('east').jlist()).toEqual([]);
    expect(await fleet.host('west').jlist()).toEqual([]);
    expect((await project.policy()).generation).toBe(before);
  });

  it('down names a host it cannot reach and exits 1, after stopping what it could', async () => {
    await fleet.host('west').stop();
    try {
      const { exitCode, body } = await project.json(['down', '--yes']);
      expect(exitCode).toBe(1);
      expect(body).toMatchObject({ ok: false, error: 'down_incomplete', message: expect.stringMatching(/west: host west is unreachable over ssh/) });
      expect(body.hosts).toEqual([{ host: 'east', stopped: [] }, { host: 'west', stopped: [], error: expect.stringContaining('unreachable') }]);
    } finally {
      await fleet.host('west').start();
    }
  });
});
