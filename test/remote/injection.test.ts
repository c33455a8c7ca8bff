import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSH_SKIP, startSshdHosts, type SshdFleet } from '../helpers/sshd.js';
import { makeRemoteProject, type RemoteProject } from './remote-project.js';

/**
 * Versions, service names and host settings with shell metacharacters are
 * refused at the edge (exit 2) before any ssh call: a recording `ssh` (and
 * `rsync`) shim first on PATH logs every call, the marker file a successful
 * injection would create never appears, and sshd accepts no session.
 */
let fleet: SshdFleet;
let project: RemoteProject;
let shims: string;
const MARKER = `/tmp/switchyard-pwned-${process.pid}`;

beforeAll(async () => {
  if (SSH_SKIP !== undefined) return;
  fleet = await startSshdHosts(['east']);
  project = await makeRemoteProject(fleet, { ports: '17400-17409' });
  shims = await mkdtemp('/tmp/sy-shim-');
  for (const tool of ['ssh', 'rsync']) {
    await writeFile(join(shims, tool), `#!/bin/sh\nprintf '%s\\n' "${tool} $*" >> ${join(shims, 'calls.log')}\nexec /usr/bin/${tool} "$@"\n`);
    await chmod(join(shims, tool), 0o755);
  }
});

afterAll(async () => {
  await project?.cleanup();
  await fleet?.cleanup();
  if (shims) await rm(shims, { recursive: true, force: true });
  await rm(MARKER, { force: true });
});

const env = () => ({ PATH: `${shims}:${process.env.PATH}` });
const calls = async () => (existsSync(join(shims, 'calls.log')) ? (await readFile(join(shims, 'calls.log'), 'utf8')).trim() : '');

async function refused(args: string[], configFile?: string): Promise<string> {
  const sessions = fleet.host('east').sessions();
  const r = await project.cli([...args, ...(configFile ? ['--config', configFile] : []), '--json'], env());
  expect(r.exitCode, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(2);
  expect(await calls()).toBe('');
  expect(existsSync(MARKER)).toBe(false);
  expect(fleet.host('east').sessions()).toBe(sessions);
  return r.stdout ? (JSON.parse(r.stdout) as { error: string }).error : 'usage';
}

const TOUCH = `touch ${MARKER}`;

describe.skipIf(SSH_SKIP !== undefined)('injection attempts never reach a remote host', () => {
  it.each([
    [`1.0.0;${TOUCH}`],
    [`$(${TOUCH})`],
    [`\`${TOUCH}\``],
    [`1.0.0\n${TOUCH}`],
  ])('deploy refuses the version %j', async (version) => {
    expect(await refused(['deploy', version, '--sync', 'release'])).toBe('invalid_version');
  });

  it('deploy refuses a version that reads as an ssh option', async () => {
    // Commander sees an unknown option: bad usage, exit 2, before anything runs.
    await refused(['deploy', `-oProxyCommand=${TOUCH}`]);
  });

  it.each([[`$(${TOUCH})`], [`lobby;${TOUCH}`], [`lobby\n${TOUCH}`]])('deploy refuses the service %j', async (service) => {
    expect(await refused(['deploy', '1.0.0', '--service', service])).toBe('unknown_service');
  });

  it.each([[`1.0.0;${TOUCH}`]])('drain and promote refuse the version %j too', async (version) => {
    expect(await refused(['drain', version, '--now'])).toBe('invalid_version');
    expect(await refused(['promote', version])).toBe('invalid_version');
  });

  const east = () => fleet.host('east').config();
  const service = (hosts: string[]) => ({ lobby: { script: 'releases/{version}/server.mjs', ports: '17400-17409', hosts } });
  it.each([
    ['a host name with ";"', () => ({ hosts: { [`east;${TOUCH}`]: east() }, services: service([`east;${TOUCH}`]) })],
    ['a host name with "$( )"', () => ({ hosts: { [`$(${TOUCH})`]: east() }, services: service([`$(${TOUCH})`]) })],
    ['a host name with a newline', () => ({ hosts: { [`east\n${TOUCH}`]: east() }, services: service([`east\n${TOUCH}`]) })],
    ['an ssh target that is an option', () => ({ hosts: { east: { ...east(), ssh: `-oProxyCommand=${TOUCH}` } }, services: service(['east']) })],
    ['an ssh target with a command', () => ({ hosts: { east: { ...east(), ssh: `root@127.0.0.1 ${TOUCH}` } }, services: service(['east']) })],
    ['an ssh option that runs a command', () => ({ hosts: { east: { ...east(), sshOptions: ['ProxyCommand=/tmp/x'] } }, services: service(['east']) })],
    ['a pm2Path with "$( )"', () => ({ hosts: { east: { ...east(), pm2Path: `$(${TOUCH})` } }, services: service(['east']) })],
    ['a pm2Home with backticks', () => ({ hosts: { east: { ...east(), pm2Home: `\`${TOUCH}\`` } }, services: service(['east']) })],
    ['a service name with "$( )"', () => ({ hosts: { east: east() }, services: { [`$(${TOUCH})`]: service(['east']).lobby } })],
  ])('a config with %s is refused', async (_what, make) => {
    const file = join(project.dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, stringify({ state: '.switchyard', pm2Home: project.pm2.home, ...make() }));
    expect(await refused(['deploy', '1.0.0', '--sync', 'release'], file)).toMatch(/^config_/);
  });

  it('and a clean deploy through the same shims does reach the host (the shims record)', async () => {
    const r = await project.cli(['deploy', '1.0.0', '--sync', 'release'], env());
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await calls()).toMatch(/^ssh /m);
    expect(fleet.host('east').sessions()).toBeGreaterThan(0);
    expect(existsSync(MARKER)).toBe(false);
  });
});
