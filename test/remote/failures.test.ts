import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSH_SKIP, startSshdHosts, type SshdFleet } from '../helpers/sshd.js';
import { makeRemoteProject, type RemoteProject } from './remote-project.js';
import { mustInSlot, slotPattern } from './slots.js';

/**
 * What happens when a host cannot be reached: all or nothing by default
 * (a host that fails while being prepared means nothing is started anywhere),
 * --allow-partial to keep the healthy host, the reconcile loop leaving what
 * runs on an unreachable host draining, and catching up once it is back.
 */
let fleet: SshdFleet;
let project: RemoteProject;
let router: { log(): string };

beforeAll(async () => {
  if (SSH_SKIP !== undefined) return;
  fleet = await startSshdHosts(['east', 'west']);
  project = await makeRemoteProject(fleet, { ports: '17350-17399' });
  router = await project.startRouter();
  const first = await project.json(['deploy', '1.0.0', '--sync', 'release']);
  expect(first.exitCode, first.stderr).toBe(0);
});

afterAll(async () => {
  await project?.cleanup();
  await fleet?.cleanup();
});

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The state of the newest incarnation of a 1.0.0 slot (0 on east, 1 on west). */
const state100 = async (slot: number) => mustInSlot(await project.policy(), '1.0.0', slot).state;

describe.skipIf(SSH_SKIP !== undefined)('a host that cannot be reached', () => {
  it('without --sync, a release missing on a host is a clear error for that host', async () => {
    const { exitCode, body } = await project.json(['deploy', '9.9.9']);
    expect(exitCode).toBe(1);
    const east = body.hosts.find((h: any) => h.host === 'east');
    expect(east.reason).toBe(`no script at ${fleet.host('east').home}/releases/9.9.9/server.mjs on host east: copy version 9.9.9 there (deploy --sync <dir> does it), or fix services.lobby.script`);
  });

  it('fails the deploy naming it, starts nothing of the new version on the other host, and leaves the policy alone', async () => {
    const before = await project.policy();
    await fleet.host('west').stop();
    const { exitCode, body } = await project.json(['deploy', '1.1.0', '--sync', 'release']);
    expect(exitCode).toBe(1);
    expect(body.error).toBe('deploy_failed');
    expect(body.message).toMatch(/west \(127\.0\.0\.1\): failed .*host west is unreachable over ssh .*Connection refused/);
    // west failed while being prepared, so east was never started (skipped), not started and removed.
    expect(body.hosts.map((h: any) => [h.host, h.outcome])).toEqual([['east', 'skipped'], ['west', 'failed']]);
    expect(body.hosts[0].reason).toBe('not started: another host failed before anything was started');
    const onEast = (await fleet.host('east').jlist()).map((p) => p.name);
    expect(onEast.filter((name) => name.startsWith('lobby@1.1.0#'))).toEqual([]);
    expect(onEast).toEqual([mustInSlot(before, '1.0.0', 0).id]);
    // Nothing was claimed: no commit, no 1.1.0 entry.
    const after = await project.policy();
    expect(after.generation).toBe(before.generation);
    expect(after.services.lobby!.processes.filter((p) => p.version === '1.1.0')).toEqual([]);
  });

  it('with --allow-partial keeps the healthy host, which serves; what runs on the unreachable host stays draining', async () => {
    const { exitCode, body, stderr } = await project.json(['deploy', '1.1.0', '--sync', 'release', '--allow-partial']);
    expect(exitCode, stderr).toBe(0);
    expect(body).toMatchObject({ ok: true, partial: true, promoted: true });
    expect(stderr).toMatch(/deployed on some hosts only/);
    const policy = await project.policy();
    const added = policy.services.lobby!.processes.filter((p) => p.version === '1.1.0');
    expect(added.map((p) => [p.id, p.host, p.state])).toEqual([[expect.stringMatching(slotPattern('1.1.0', 0)), 'east', 'active']]);

    const resolved = (await (await fetch(`${project.routerUrl}/v1/resolve?service=lobby&version=1.1.0`)).json()) as { port: number };
    expect(resolved.port).toBe(added[0]!.port);
    expect(((await (await fetch(`http://127.0.0.1:${resolved.port}/`)).json()) as { version: string }).version).toBe('1.1.0');

    // east's 1.0.0 reports zero terminals and is stopped; west's cannot be reached, so it is never claimed nor recorded as retired.
    await until('east 1.0.0 retired', () => state100(0), (s) => s === 'retired');
    // One log line; the reason is ssh's own words, which may hold a '\r'.
    await until('the router to say west cannot be asked', async () => router.log(), (log) => /cannot ask PM2 on host west: [^\n]*; its processes are unknown this pass/.test(log));
    await new Promise((r) => setTimeout(r, 1000));
    expect(await state100(1)).toBe('draining');

    const status = await project.cli(['status']);
    expect(status.stdout).toMatch(/west \(unreachable\)/);
    expect(status.stdout).toMatch(/host west is unreachable over ssh/);
  });

  it('once the host answers again, its drained process is retired and deploy fills in that host only', async () => {
    await fleet.host('west').start();
    await until('west 1.0.0 retired', () => state100(1), (s) => s === 'retired');
    expect((await fleet.host('west').jlist()).map((p) => p.name)).toEqual([]);

    const { exitCode, body, stderr } = await project.json(['deploy', '1.1.0', '--sync', 'release']);
    expect(exitCode, stderr).toBe(0);
    expect(stderr).toContain('already runs on east: deploying to west only');
    expect(body.hosts.map((h: any) => [h.host, h.outcome])).toEqual([['west', 'ready']]);
    const west = mustInSlot(await project.policy(), '1.1.0', 1);
    expect([west.id, west.host, west.state]).toEqual([expect.stringMatching(slotPattern('1.1.0', 1)), 'west', 'active']);
    expect((await fleet.host('west').jlist()).map((p) => [p.name, p.status])).toEqual([[west.id, 'online']]);
  });
});
