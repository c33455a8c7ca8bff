import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostConfig } from '../../src/config/schema.js';
import { RemoteFleet } from '../../src/fleet/remote-fleet.js';
import { syncFolder } from '../../src/fleet/remote-sync.js';
import { runSsh } from '../../src/fleet/ssh.js';
import { freePort } from '../helpers/free-port.js';
import { SSH_SKIP, rsyncSkip, sshBackend, startSshdHosts, type SshdFleet } from '../helpers/sshd.js';

/** The ssh helper and the remote fleet's building blocks against an ssh server (real sshd, or the in-process one). */
let fleet: SshdFleet;
let host: HostConfig;
let silent: Server | undefined;

beforeAll(async () => {
  if (SSH_SKIP !== undefined) return;
  fleet = await startSshdHosts(['edge']);
  const c = fleet.host('edge').config() as Record<string, any>;
  host = { name: 'edge', address: '127.0.0.1', local: false, ssh: c.ssh, port: c.port, identityFile: c.identityFile, sshOptions: c.sshOptions, pm2Home: '~/pm2', nodePath: undefined, pm2Path: c.pm2Path };
});

afterAll(async () => {
  silent?.close();
  await fleet?.cleanup();
});

const NASTY = ["it's", '$(id)', '`id`', '1.0.0;touch /tmp/x', 'a\nb', '-oProxyCommand=x', '$HOME', '', ' * ', '\\', '"q"', '%s'];

describe.skipIf(SSH_SKIP !== undefined)('runSsh', () => {
  it('talks to the server chosen for this run (SWITCHYARD_TEST_SSH, else sshd when present and root)', async () => {
    expect(fleet.backend).toBe(sshBackend());
    const before = fleet.host('edge').sessions();
    expect((await fleet.host('edge').ssh('echo "$HOME"')).stdout.trim()).toBe(fleet.host('edge').home);
    expect(fleet.host('edge').sessions()).toBe(before + 1);
  });


  it('delivers every argument to the remote side unchanged, through the real remote shell', async () => {
    const { stdout } = await runSsh(host, ['sh', '-c', 'printf "%s\\0" "$@"', 'sh', ...NASTY], { what: 'echo' });
    expect(stdout.split('\0').slice(0, -1)).toEqual(NASTY);
  });

  it('sends input on stdin', async () => {
    const { stdout } = await runSsh(host, ['sh', '-c', 'wc -c'], { what: 'count', input: 'x'.repeat(100_000) });
    expect(stdout.trim()).toBe('100000');
  });

  it('names the host and the failing step when the remote command fails', async () => {
    await expect(runSsh(host, ['sh', '-c', 'echo broken >&2; exit 3'], { what: 'do the thing' })).rejects.toMatchObject({
      code: 'remote_command_failed',
      message: 'could not do the thing on host edge (exit 3): broken',
    });
    expect((await runSsh(host, ['sh', '-c', 'exit 3'], { what: 'x', allowFailure: true })).exitCode).toBe(3);
  });

  it('stops a call at its timeout', async () => {
    await expect(runSsh(host, ['sleep', '3'], { what: 'wait', timeoutMs: 800 })).rejects.toMatchObject({ code: 'ssh_timeout' });
  });

  it('says a host is unreachable when nothing listens, or when it never speaks ssh', async () => {
    const closed = await freePort();
    await expect(runSsh({ ...host, port: closed }, ['true'], { what: 'x' })).rejects.toMatchObject({ code: 'host_unreachable', message: expect.stringMatching(/^host edge is unreachable over ssh .*Connection refused/) });
    silent = createServer(() => {}).listen(0, '127.0.0.1');
    await new Promise((r) => silent!.once('listening', r));
    const port = (silent.address() as { port: number }).port;
    await expect(runSsh({ ...host, port }, ['true'], { what: 'x', timeoutMs: 1500 })).rejects.toMatchObject({ code: 'host_unreachable' });
  });
});

describe.skipIf(SSH_SKIP !== undefined)('syncFolder', () => {
  // Without rsync here, only the tar fallback can be tried (rsyncSkip says so, visibly).
  const methods = ([[true, 'rsync'], [false, 'tar']] as const).filter(([remoteRsync]) => !remoteRsync || rsyncSkip() === undefined);
  it.each(methods)('copies a folder (remote rsync %s → %s), odd file names included', async (remoteRsync, method) => {
    const local = await mkdtemp('/tmp/sy-sync-');
    try {
      await writeFile(join(local, "it's a file.txt"), 'quoted');
      await writeFile(join(local, 'server.mjs'), 'console.log(1)');
      const dir = join(fleet.host('edge').home, 'releases', method);
      expect(await syncFolder(host, local, dir, { remoteRsync, timeoutMs: 20_000 })).toBe(method);
      expect(await readFile(join(dir, "it's a file.txt"), 'utf8')).toBe('quoted');
      expect(await readFile(join(dir, 'server.mjs'), 'utf8')).toBe('console.log(1)');
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });
});

describe.skipIf(SSH_SKIP !== undefined)('RemoteFleet.open', () => {
  it('read-only callers get no fleet where no PM2 daemon runs (none is started just to look)', async () => {
    expect(await RemoteFleet.open(host, { startDaemon: false })).toBeUndefined();
  });

  it('says so when pm2 is not on the host', async () => {
    await expect(RemoteFleet.open({ ...host, pm2Path: '/nonexistent/pm2' }, { startDaemon: true })).rejects.toMatchObject({
      code: 'pm2_missing',
      message: expect.stringContaining('hosts.edge.pm2Path'),
    });
  });

  it('resolves paths against the remote home and probes ports on the host', async () => {
    const remote = (await RemoteFleet.open(host, { startDaemon: true }))!;
    const home = fleet.host('edge').home;
    expect(remote.resolvePath('releases/1.0.0/server.mjs')).toBe(`${home}/releases/1.0.0/server.mjs`);
    expect(remote.resolvePath('~/x')).toBe(`${home}/x`);
    expect(remote.resolvePath('/srv/app/../x')).toBe('/srv/x');
    const probe = await remote.probe(`${home}/nothing-here.mjs`, [fleet.host('edge').port, 17410], 2);
    // sshd holds its own port: the probe on the host skips it.
    expect(probe).toEqual({ scriptFound: false, freePorts: [17410] });
  });
});
