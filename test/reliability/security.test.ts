import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { captureStderr, ChildTracker, isRunning, waitExit } from '../helpers/child-processes.js';
import { BIN, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { makePm2Home, type Pm2Home } from '../helpers/pm2-home.js';
import { assertNothingLeft, waitFor, type RolloutProject, makeRolloutProject } from '../helpers/rollout-project.js';
import { buildPolicy, startRouter, stopAllRouters } from '../helpers/router-process.js';
import { cliHeaders, heartbeatHeaders } from '../helpers/signed.js';
import { editConfig, ok, report } from './support/project.js';
import { HOSTILE_SERVICE, HOSTILE_VERSION, hostileInputs, pm2Pid, remoteProject, seenBy, writeRelease } from './support/hostile.js';
import { canUnshareNet, externalIPv4, listenersOf, sshArgvProblems, unquoteWords, writeSshShim } from './support/security.js';

/**
 * Security checks: heartbeat and status refuse an unsigned or wrongly
 * signed request (401); the router listens on loopback unless configured otherwise; the
 * token file is 0600; no user-supplied string reaches a shell: local
 * processes start through PM2's API, and over ssh every remote word is
 * quoted by src/fleet/ssh.ts (checked through a recording `ssh` shim that
 * runs the remote command with sh, as a remote host would), while invalid
 * names and versions are refused before ssh ever runs.
 */

const children = new ChildTracker();
const homes: Pm2Home[] = [];
const folders: string[] = [];
let project: RolloutProject | undefined;
const MARKER = join(tmpdir(), `sy-pwned-${process.pid}`);
const POLICY = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1);
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const temp = async (prefix: string) => {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
};

afterEach(async () => {
  await children.killAll();
  await project?.cleanup();
  project = undefined;
});
afterAll(async () => {
  await stopAllRouters();
  for (const home of homes) await home.cleanup();
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
  await rm(MARKER, { force: true });
  await assertNothingLeft();
});

describe('security', () => {
  it('heartbeat and status answer 401 to a missing or wrong credential, the secret as a bearer token included', async () => {
    const router = await startRouter({ policy: POLICY });
    const t = router.token;
    const wrong = [undefined, '', 'Bearer', 'Bearer ', `Bearer ${t.slice(0, -1)}${t.endsWith('0') ? '1' : '0'}`, `Bearer ${t.slice(0, -1)}`, `Bearer ${t}x`,
      `Basic ${Buffer.from(`switchyard:${t}`).toString('base64')}`, `Token ${t}`, t, `Bearer ${'0'.repeat(t.length)}`, `Bearer ${t} ${t}`];
    const heartbeat = JSON.stringify({ service: 'lobby', version: '1.5.0', process: 'lobby@1.5.0#0', seq: 1, terminals: { '1.5.0': 1 } });
    const call = (path: string, auth: string | undefined, body?: string) =>
      fetch(`${router.url}${path}`, { method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: auth }) }, ...(body ? { body } : {}) });
    const answers: string[] = [];
    for (const auth of wrong) {
      for (const [path, body] of [['/v1/heartbeat', heartbeat], ['/v1/status', undefined], [`/v1/status?token=${t}`, undefined]] as const) {
        const r = await call(path, auth, body);
        const json = (await r.json()) as { error?: string; message?: string };
        answers.push(`${path.slice(0, 13)} ${JSON.stringify(auth?.slice(0, 12))}… → ${r.status}`);
        expect(r.status, `${path} with ${JSON.stringify(auth)}`).toBe(401);
        expect(json).toMatchObject({ error: expect.any(String), message: expect.any(String) });
      }
    }
    // The secret itself as a bearer token is refused too; signed requests work, so the 401s were about the credentials.
    expect((await call('/v1/heartbeat', `Bearer ${t}`, heartbeat)).status).toBe(401);
    expect((await fetch(`${router.url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(t, heartbeat), body: heartbeat })).status).toBe(204);
    expect((await fetch(`${router.url}/v1/status`, { headers: cliHeaders(t) })).status).toBe(200);
    report('security tokens', `${answers.length} requests with no or a wrong credential (${wrong.length} kinds × heartbeat, status, status with ?token=): all 401 with a JSON error; the secret as a bearer token: 401; signed: 204 and 200`);
  });

  it('the router listens on loopback unless configured; the token file is 0600', async () => {
    // The default in the config, and what init writes.
    const dir = await temp('sy-rel-sec-');
    await writeFile(join(dir, 'default.yaml'), 'services:\n  lobby: { script: "releases/{version}/server.js", ports: "7500-7509" }\n');
    const byDefault = await loadConfig({ cwd: dir, configPath: 'default.yaml', env: {} });
    expect(byDefault.config.router.listen).toEqual({ host: '127.0.0.1', port: 7400 });
    const init = await runCli(['init', '--yes', '--service', 'lobby'], { cwd: dir, env: { PM2_HOME: join(dir, 'unused-pm2') } });
    ok(init, 'switchyard init --yes');
    expect((await loadConfig({ cwd: dir, env: {} })).config.router.listen.host).toBe('127.0.0.1');
    expect(await mode(join(dir, '.switchyard', 'token'))).toBe(0o600);

    // A router with a config that says nothing about listening, in a network namespace of its own
    // (so port 7400 is surely free): it binds 127.0.0.1:7400 only. Its token was copied there (a router never makes one).
    const pm2 = await makePm2Home();
    homes.push(pm2);
    const bare = join(dir, 'bare');
    await mkdir(bare);
    await writeFile(join(bare, 'switchyard.config.yaml'), `pm2Home: ${JSON.stringify(pm2.home)}\nservices:\n  lobby: { script: "releases/{version}/server.js", ports: "7500-7509" }\n`);
    await new PolicyStore(join(bare, '.switchyard')).init();
    await writeFile(join(bare, '.switchyard', 'token'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const netns = canUnshareNet();
    const command = netns ? ['unshare', '-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath] : [process.execPath];
    const child = children.spawn(command[0]!, [...command.slice(1), BIN, 'router', 'run'], { cwd: bare, env: { PM2_HOME: pm2.home, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const log = captureStderr(child);
    const listening = await waitFor('the default router to listen', () => {
      if (!isRunning(child)) throw new Error(`the router exited: ${log()}`);
      const found = listenersOf(child.pid!);
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    expect(listening).toEqual([{ address: '127.0.0.1', port: 7400 }]);
    expect(await mode(join(bare, '.switchyard', 'token'))).toBe(0o600);
    child.kill('SIGTERM');
    await waitExit(child);

    // Configured to listen everywhere, it does; on loopback (the default), nothing answers on another interface.
    const port = await freePort();
    const everywhere = await startRouter({ policy: POLICY, port, router: { listen: `0.0.0.0:${port}` } });
    expect(listenersOf(everywhere.pid)).toEqual([{ address: '0.0.0.0', port }]);
    const loopback = await startRouter({ policy: POLICY });
    expect(listenersOf(loopback.pid)).toEqual([{ address: '127.0.0.1', port: loopback.port }]);
    const ip = externalIPv4();
    let external = 'no non-loopback IPv4 address on this machine to try';
    if (ip !== undefined) {
      const answered = (url: string) => fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, (e: Error) => (e.cause as { code?: string })?.code ?? e.message);
      const open = await answered(`http://${ip}:${port}`);
      const closed = await answered(`http://${ip}:${loopback.port}`);
      expect(open).toBe(200);
      expect(closed).toBe('ECONNREFUSED');
      external = `on ${ip}: the 0.0.0.0 router answers ${open}, the loopback router ${closed}`;
    }
    report('security loopback', `default config listens on ${listening.map((l) => `${l.address}:${l.port}`).join(', ')} (checked in ${netns ? 'a network namespace of its own' : 'this namespace'}); ` +
      `init writes 127.0.0.1; token file 0600 (made by init only; a router without it refuses to start); ${external}`);
  });

  it('local processes start through the PM2 API: hostile-but-valid path, arguments and environment arrive as data', async () => {
    const hostile = hostileInputs(MARKER);
    project = await makeRolloutProject({ service: HOSTILE_SERVICE, prefix: 'sy-rel-sec-local-' });
    const p = project;
    const script = await writeRelease(join(p.dir, hostile.folder), HOSTILE_VERSION);
    await mkdir(join(p.dir, hostile.cwd));
    await editConfig(p, (doc) => {
      doc.setIn(['services', HOSTILE_SERVICE, 'script'], `${hostile.folder}/{version}/server.mjs`);
      doc.setIn(['services', HOSTILE_SERVICE, 'cwd'], hostile.cwd);
      doc.setIn(['services', HOSTILE_SERVICE, 'args'], hostile.args);
      doc.setIn(['services', HOSTILE_SERVICE, 'env'], hostile.env);
    });
    const deploy = await p.cli(['deploy', HOSTILE_VERSION, '--json'], { env: { SY_MARKER: MARKER }, timeoutMs: 60_000 });
    ok(deploy, `switchyard deploy ${HOSTILE_VERSION}`);
    const pid = await pm2Pid(p.pm2Home, `${HOSTILE_SERVICE}@${HOSTILE_VERSION}#0`);
    expect(pid).toBeGreaterThan(0);
    p.track(pid!, 'hostile local process');
    const seen = seenBy(script);
    expect(seen).toEqual({ script, argv: hostile.args, cwd: join(p.dir, hostile.cwd), env: hostile.env });
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(p.dir, hostile.cwd));
    expect(existsSync(MARKER)).toBe(false);
    report('security local', `deploy of ${HOSTILE_SERVICE}@${HOSTILE_VERSION} from a folder named ${JSON.stringify(hostile.folder)}, working folder ${JSON.stringify(hostile.cwd)}, ` +
      `${hostile.args.length} hostile arguments and 2 hostile variables: the process reported getting them byte for byte, no marker file`);
  });

  it('over ssh every remote word is quoted; invalid names and versions never reach ssh', async () => {
    const dir = await temp('sy-rel-sec-ssh-');
    const [localPm2, remotePm2] = [await makePm2Home(), await makePm2Home()];
    homes.push(localPm2, remotePm2);
    const bin = join(dir, 'bin');
    const log = join(dir, 'ssh-calls.jsonl');
    await mkdir(bin);
    await mkdir(join(dir, 'remote-home'));
    await writeSshShim(bin, log, join(dir, 'remote-home'));
    const ports = 24000 + Math.floor(Math.random() * 400) * 10;
    const remote = await remoteProject({ dir, localPm2, remotePm2, binDir: bin, marker: MARKER, ports: `${ports}-${ports + 9}` });
    const calls = async () => (existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]) : []);

    const deploy = await remote.cli(['deploy', HOSTILE_VERSION, '--json']);
    ok(deploy, `switchyard deploy ${HOSTILE_VERSION} (over the ssh shim)`);
    const recorded = await calls();
    const problems = recorded.flatMap((argv) => sshArgvProblems(argv, 'deploy@edge-1.invalid'));
    const words = recorded.flatMap((argv) => unquoteWords(argv.at(-1)!));
    expect(recorded.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    // The hostile script path reached the remote shell as one word.
    expect(words).toContain(remote.script);
    const pid = await pm2Pid(remotePm2.home, `${HOSTILE_SERVICE}@${HOSTILE_VERSION}#0`);
    expect(pid).toBeGreaterThan(0);
    const hostile = hostileInputs(MARKER);
    expect(seenBy(remote.script)).toEqual({ script: remote.script, argv: hostile.args, cwd: join(dir, 'srv', hostile.cwd), env: hostile.env });
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(dir, 'srv', hostile.cwd));
    expect(existsSync(MARKER)).toBe(false);

    // Refused before any ssh call.
    const before = recorded.length;
    const badHost = await remote.writeConfig('bad-host.yaml', (c) => {
      c.hosts[`edge;touch ${MARKER}`] = c.hosts.edge;
      c.services[HOSTILE_SERVICE].hosts = [`edge;touch ${MARKER}`];
    });
    const refusals = [
      ['deploy', `1.0.0;touch ${MARKER}`], ['deploy', `$(touch ${MARKER})`], ['deploy', '1.0.0', '--service', `x;touch ${MARKER}`],
      ['promote', `1.0.0\`touch ${MARKER}\``], ['drain', `$(touch ${MARKER})`, '--now'], ['deploy', '1.0.0', '--config', badHost],
    ];
    for (const args of refusals) {
      const r = await remote.cli(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
    expect((await calls()).length).toBe(before);
    expect(existsSync(MARKER)).toBe(false);
    report('security ssh', `a deploy over the recording ssh shim made ${recorded.length} ssh calls, ${problems.length} with anything outside single quotes or an unexpected option; ` +
      `the hostile script path, working folder, ${hostile.args.length} arguments and 2 variables arrived byte for byte; ${refusals.length} invalid names/versions refused (exit 2) with 0 ssh calls; no marker file`);
    // Stop the remote process before its PM2 home is cleaned up (that kills the daemon and what it runs).
    await remote.cli(['drain', HOSTILE_VERSION, '--now']);
  });

  // PM2 runs any script whose path holds a space as `bash -c <path>` (pm2/lib/Common.js), dropping its
  // arguments, so such a path would be parsed by a shell: switchyard refuses it before PM2 sees it.
  it('refuses a script path with a space instead of letting PM2 hand it to a shell', async () => {
    project = await makeRolloutProject({ prefix: 'sy-rel-sec-space-' });
    const p = project;
    const script = await writeRelease(join(p.dir, 'my app'), '1.0.0');
    await editConfig(p, (doc) => {
      doc.setIn(['services', p.service, 'script'], 'my app/{version}/server.mjs');
      doc.setIn(['services', p.service, 'args'], ['--port-name', 'a b']);
    });
    const deploy = await p.cli(['deploy', '1.0.0'], { timeoutMs: 60_000 });
    expect(deploy.exitCode, deploy.stderr).toBe(1);
    expect(deploy.stderr).toContain('white space');
    // The release writes seen.json when it runs: it never ran.
    expect(existsSync(join(dirname(script), 'seen.json'))).toBe(false);
  });

  it('no module of dist/ runs a shell: every child process is started with an argument array', () => {
    const dist = join(import.meta.dirname, '..', '..', 'dist');
    const files = (readdirSync(dist, { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
    const findings: string[] = [];
    let calls = 0;
    for (const file of files) {
      const text = readFileSync(join(dist, file), 'utf8');
      if (/from ['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)/.test(text)) findings.push(`${file} imports child_process`);
      if (/\bshell\s*:\s*(true|['"`])/.test(text)) findings.push(`${file} asks for a shell`);
      if (/\bexeca(Command|Sync|CommandSync|Node)?\s*`|\$\s*`|execaCommand/.test(text)) findings.push(`${file} builds a command line from a string`);
      for (const m of text.matchAll(/\bexeca\(([^,()]+),\s*([^\s,]+)/g)) {
        calls += 1;
        if (!m[2]!.startsWith('[') && !m[2]!.startsWith('sshArgs(')) findings.push(`${file}: execa(${m[1]}, ${m[2]}…) without an argument array`);
      }
    }
    report('security no-shell', `${files.length} modules of dist/ scanned: ${calls} execa calls, all with argument arrays; no child_process, no shell option (${findings.length} findings)`);
    expect(findings).toEqual([]);
    expect(calls).toBeGreaterThan(0);
  });
});
