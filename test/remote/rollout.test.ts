import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedSync, SSH_SKIP, startSshdHosts, type SshdFleet } from '../helpers/sshd.js';
import { makeRemoteProject, type RemoteProject } from './remote-project.js';
import { mustInSlot, slotPattern } from './slots.js';

/**
 * The rollout story on two remote hosts: both are this machine reached by
 * ssh (their own sshd, home and PM2_HOME), driven only through the CLI and
 * the router, and checked on each host with `pm2 jlist` over ssh.
 */
let fleet: SshdFleet;
let project: RemoteProject;

beforeAll(async () => {
  if (SSH_SKIP !== undefined) return;
  fleet = await startSshdHosts(['east', 'west']);
  project = await makeRemoteProject(fleet, { ports: '17300-17349' });
  await project.startRouter();
});

afterAll(async () => {
  await project?.cleanup();
  await fleet?.cleanup();
});

async function answer(port: number): Promise<{ version: string; process: string; home: string }> {
  return (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { version: string; process: string; home: string };
}

describe.skipIf(SSH_SKIP !== undefined)('deploy → deploy → retire across two ssh hosts', () => {
  it('deploys 1.0.0 to both hosts in parallel, copying the release, one result per host', async () => {
    const { exitCode, body, stderr } = await project.json(['deploy', '1.0.0', '--sync', 'release']);
    expect(exitCode, stderr).toBe(0);
    expect(body.hosts.map((h: any) => [h.host, h.outcome, h.synced])).toEqual([['east', 'ready', expectedSync()], ['west', 'ready', expectedSync()]]);

    const policy = await project.policy();
    const procs = policy.services.lobby!.processes;
    expect(procs.map((p) => [p.id, p.host, p.state])).toEqual([
      [expect.stringMatching(slotPattern('1.0.0', 0)), 'east', 'active'],
      [expect.stringMatching(slotPattern('1.0.0', 1)), 'west', 'active'],
    ]);
    // One deploy, one claiming generation for both.
    expect(procs[0]!.id.split('.g')[1]).toBe(procs[1]!.id.split('.g')[1]);
    // One machine behind one address: each host got its own port.
    expect(procs[0]!.port).not.toBe(procs[1]!.port);

    for (const [i, name] of ['east', 'west'].entries()) {
      const host = fleet.host(name);
      const listed = await host.jlist();
      expect(listed).toEqual([{ name: procs[i]!.id, status: 'online', port: procs[i]!.port }]);
      // It runs from that host's home, where --sync put the release, under the id it was claimed with.
      expect(await answer(procs[i]!.port)).toEqual({ version: '1.0.0', process: procs[i]!.id, home: host.home });
    }
  });

  it('deploys 1.1.0 with --wait: the router drains 1.0.0 and stops it on both hosts over ssh', async () => {
    const { exitCode, body, stderr } = await project.json(['deploy', '1.1.0', '--sync', 'release', '--wait', '--timeout', '40s']);
    expect(exitCode, stderr).toBe(0);
    expect(body).toMatchObject({ ok: true, version: '1.1.0', promoted: true, previousTarget: '1.0.0', partial: false });
    expect(body.retiredAfterMs).toBeGreaterThanOrEqual(0);

    const policy = await project.policy();
    expect(policy.services.lobby!.target).toBe('1.1.0');
    expect([mustInSlot(policy, '1.0.0', 0).state, mustInSlot(policy, '1.0.0', 1).state]).toEqual(['retired', 'retired']);
    for (const [i, name] of ['east', 'west'].entries()) {
      const current = mustInSlot(policy, '1.1.0', i);
      expect([current.host, current.state]).toEqual([name, 'active']);
      const listed = await fleet.host(name).jlist();
      expect(listed).toEqual([{ name: current.id, status: 'online', port: current.port }]);
    }
    const resolved = await (await fetch(`${project.routerUrl}/v1/resolve?service=lobby&version=1.1.0`)).json() as { port: number };
    expect((await answer(resolved.port)).version).toBe('1.1.0');
  });

  it('status shows the host of each process and what PM2 says there', async () => {
    const human = await project.cli(['status']);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/1\.1\.0 \*\s+active\s+2\s+east, west/);
    expect(human.stdout).not.toContain('unreachable');

    const { body } = await project.json(['status']);
    const procs = body.services.lobby.processes.filter((p: any) => p.state === 'active');
    expect(procs.map((p: any) => [p.host, p.pm2?.status])).toEqual([['east', 'online'], ['west', 'online']]);
  });

  it('a version PM2 would read as a file name (1.4.0-rc.yml) is deployed, drained and retired on both hosts, then gone from PM2 there', async () => {
    const rc = await project.json(['deploy', '1.4.0-rc.yml', '--sync', 'release']);
    expect(rc.exitCode, rc.stderr).toBe(0);
    const policy = await project.policy();
    const ids = [mustInSlot(policy, '1.4.0-rc.yml', 0).id, mustInSlot(policy, '1.4.0-rc.yml', 1).id];
    for (const [i, name] of ['east', 'west'].entries()) expect((await fleet.host(name).jlist()).map((p) => p.name)).toContain(ids[i]);
    // Back to 1.1.0 (its draining processes take logins again): the rc drains to zero and the router stops it on both hosts; remote `remove` is done only when jlist no longer lists it.
    const back = await project.json(['rollback', '--to', '1.1.0']);
    expect(back.exitCode, back.stderr).toBe(0);
    const waited = await project.json(['drain', '1.4.0-rc.yml', '--wait', '--timeout', '40s']);
    expect(waited.exitCode, waited.stderr).toBe(0);
    const after = await project.policy();
    expect([mustInSlot(after, '1.4.0-rc.yml', 0).state, mustInSlot(after, '1.4.0-rc.yml', 1).state]).toEqual(['retired', 'retired']);
    for (const name of ['east', 'west']) expect((await fleet.host(name).jlist()).map((p) => p.name).filter((n) => n.includes('rc.yml'))).toEqual([]);
    console.log(`[remote] 1.4.0-rc.yml: ${ids.join(', ')} deployed, drained and retired over ssh; PM2 lists neither`);
  });
});
