import { execa } from 'execa';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { freePort } from './free-port.js';
import { appPids, pidAlive, readPid } from './pm2-home.js';
import { InProcessSshd, makeKeyPair } from './ssh2-server.js';

/**
 * SSH "hosts" on 127.0.0.1 for remote-host tests: each is this machine
 * reached with the system `ssh` client on its own free port, with its own
 * home folder, so its releases, logs and PM2_HOME (`~/pm2`, a short /tmp
 * path) are its own. Its PM2 daemon is started by switchyard over ssh;
 * cleanup() ends it and its processes by pid, stops every server and removes
 * the folders.
 *
 * Two servers, one behaviour: a real sshd (STACK.md's recipe, as root; its
 * SetEnv gives each host its HOME), or, where sshd is missing, an SSH server
 * inside the test process (ssh2-server.ts). SWITCHYARD_TEST_SSH=sshd|ssh2
 * picks one; unset, sshd is used when /usr/sbin/sshd exists and we are root.
 * .ci/run runs the remote suites with both.
 *
 *   const fleet = await startSshdHosts(['east', 'west']);
 *   afterAll(() => fleet.cleanup());
 *   hosts: { east: fleet.host('east').config(), ... }
 */

export const SSHD = '/usr/sbin/sshd';
export const PM2_BIN = resolve(import.meta.dirname, '../../node_modules/pm2/bin/pm2');

export type SshBackend = 'sshd' | 'ssh2';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function sshBackend(env: NodeJS.ProcessEnv = process.env): SshBackend {
  const asked = env.SWITCHYARD_TEST_SSH;
  if (asked === 'sshd' || asked === 'ssh2') return asked;
  if (asked !== undefined && asked !== '') throw new Error(`SWITCHYARD_TEST_SSH=${asked}: expected sshd or ssh2`);
  return existsSync(SSHD) && process.getuid?.() === 0 ? 'sshd' : 'ssh2';
}

/**
 * Why the remote suites cannot run here (printed once, visibly), or undefined.
 * Only the ssh client is needed: the server can always be the in-process one.
 */
export const SSH_SKIP: string | undefined = (() => {
  const reason = !onPath('ssh') ? 'skipping the remote-host suite: install openssh-client (apt-get install openssh-client)'
    : sshBackend() === 'sshd' && !existsSync(SSHD) ? `skipping the remote-host suite: SWITCHYARD_TEST_SSH=sshd but ${SSHD} is missing: install openssh-server (apt-get install openssh-server)`
      : undefined;
  if (reason !== undefined) console.warn(reason);
  return reason;
})();

/** How `deploy --sync` copies to the test hosts here: rsync when this machine (and so each host) has it, else tar. */
export function expectedSync(): 'rsync' | 'tar' {
  return onPath('rsync') ? 'rsync' : 'tar';
}

/** Why rsync-specific cases cannot run here, printed when asked, or undefined. */
export function rsyncSkip(): string | undefined {
  if (onPath('rsync')) return undefined;
  const reason = 'skipping the rsync case: install rsync (apt-get install rsync); the tar fallback is still tested';
  console.warn(reason);
  return reason;
}

export interface JlistEntry {
  name: string;
  status: string;
  port: number | undefined;
}

export interface SshdHost {
  name: string;
  port: number;
  /** The host's $HOME: relative paths in the config land here. */
  home: string;
  pm2Home: string;
  /** The hosts entry for a switchyard config. */
  config(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Runs a (constant, test-written) command on the host over ssh. */
  ssh(command: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** PM2's processes there, asked with `pm2 jlist` over ssh. */
  jlist(): Promise<JlistEntry[]>;
  /** How many ssh sessions sshd has accepted so far (from its log). */
  sessions(): number;
  running(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SshdFleet {
  hosts: SshdHost[];
  host(name: string): SshdHost;
  keyDir: string;
  backend: SshBackend;
  cleanup(): Promise<void>;
}


async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });
}

/** SIGKILLs every process of ours whose environment names this PM2_HOME (pm2 CLIs a session left running), by pid. */
function killByPm2Home(pm2Home: string): void {
  const wanted = `PM2_HOME=${pm2Home}`;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(wanted)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone, or not ours to read.
    }
  }
}

/** Ends a PM2 daemon and the processes it ran, by the pids in its home; never by name. */
export async function killPm2At(pm2Home: string): Promise<void> {
  const daemon = readPid(join(pm2Home, 'pm2.pid'));
  const apps = appPids(pm2Home);
  const all = [...(daemon === undefined ? [] : [daemon]), ...apps].filter(pidAlive);
  if (daemon !== undefined && pidAlive(daemon)) process.kill(daemon, 'SIGTERM');
  const deadline = Date.now() + 8000;
  while (all.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of all.filter(pidAlive)) process.kill(pid, 'SIGKILL');
}

/** The server side of one test host: real sshd, or the in-process one. */
interface HostServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
  sessions(): number;
}

function realSshd(keyDir: string, name: string, port: number, home: string): HostServer {
  const pidFile = join(keyDir, `${name}.pid`);
  const logFile = join(keyDir, `${name}.log`);
  const server: HostServer = {
    sessions: () => (existsSync(logFile) ? (readFileSync(logFile, 'utf8').match(/Accepted publickey/g) ?? []).length : 0),
    running: () => {
      const pid = readPid(pidFile);
      return pid !== undefined && pidAlive(pid);
    },
    async start() {
      await execa(SSHD, [
        '-f', '/dev/null', '-p', String(port), '-o', 'ListenAddress=127.0.0.1', '-h', join(keyDir, 'host_ed25519'),
        '-o', `AuthorizedKeysFile=${join(keyDir, 'authorized_keys')}`, '-o', 'StrictModes=no', '-o', 'PasswordAuthentication=no',
        '-o', 'KbdInteractiveAuthentication=no', '-o', 'MaxStartups=200', '-o', 'MaxSessions=200',
        '-o', `PidFile=${pidFile}`, '-E', logFile, '-o', `SetEnv=HOME=${home}`,
      ]);
      await waitFor(async () => server.running() && (await accepts(port)), 10_000, `sshd of ${name} on port ${port}`);
    },
    async stop() {
      const pid = readPid(pidFile);
      if (pid === undefined || !pidAlive(pid)) return;
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !pidAlive(pid), 10_000, `sshd ${pid} of ${name} to stop`);
    },
  };
  return server;
}

function inProcessSshd(keyDir: string, port: number, home: string, user: string): HostServer {
  const server = new InProcessSshd({
    port, home, user,
    hostKey: readFileSync(join(keyDir, 'host_ed25519'), 'utf8'),
    authorizedKey: readFileSync(join(keyDir, 'authorized_keys'), 'utf8'),
  });
  return { start: () => server.start(), stop: () => server.stop(), running: () => server.running(), sessions: () => server.sessions };
}

async function writeKeys(keyDir: string, backend: SshBackend): Promise<void> {
  if (backend === 'sshd') {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'host_ed25519')]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
  } else {
    // ssh-keygen may be missing with sshd; ssh2 writes the same OpenSSH format.
    for (const file of ['host_ed25519', 'id_ed25519']) {
      const pair = makeKeyPair(`switchyard-test-${file}`);
      await writeFile(join(keyDir, file), pair.privateKey, { mode: 0o600 });
      await writeFile(join(keyDir, `${file}.pub`), `${pair.publicKey}\n`);
    }
  }
  await writeFile(join(keyDir, 'authorized_keys'), readFileSync(join(keyDir, 'id_ed25519.pub')), { mode: 0o600 });
}

export async function startSshdHosts(names: string[], backend: SshBackend = sshBackend()): Promise<SshdFleet> {
  if (backend === 'sshd' && !existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server (apt-get install openssh-server; .ci/run does it)`);
  const keyDir = await mkdtemp('/tmp/sy-ssh-');
  await writeKeys(keyDir, backend);
  if (backend === 'sshd') await mkdir('/run/sshd', { recursive: true });
  const user = userInfo().username;
  const clientArgs = ['-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${join(keyDir, 'known_hosts')}`, '-i', join(keyDir, 'id_ed25519')];

  const hosts = await Promise.all(names.map(async (name): Promise<SshdHost> => {
    const port = await freePort();
    const home = await mkdtemp('/tmp/sy-h-');
    const pm2Home = join(home, 'pm2');
    const server = backend === 'sshd' ? realSshd(keyDir, name, port, home) : inProcessSshd(keyDir, port, home, user);
    const host: SshdHost = {
      name, port, home, pm2Home,
      config: (extra = {}) => ({
        ssh: `${user}@127.0.0.1`, port, address: '127.0.0.1', identityFile: join(keyDir, 'id_ed25519'),
        sshOptions: ['StrictHostKeyChecking=accept-new', `UserKnownHostsFile=${join(keyDir, 'known_hosts')}`],
        pm2Home: '~/pm2', pm2Path: PM2_BIN, ...extra,
      }),
      async ssh(command) {
        const r = await execa('ssh', [...clientArgs, '-p', String(port), '--', `${user}@127.0.0.1`, command], { reject: false, timeout: 20_000, stdin: 'ignore' });
        return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
      },
      async jlist() {
        const r = await host.ssh(`PM2_HOME=${pm2Home} ${PM2_BIN} jlist`);
        if (r.exitCode !== 0) throw new Error(`pm2 jlist on ${name} failed: ${r.stderr}`);
        const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('[{') || l === '[]').at(-1) ?? '[]';
        return (JSON.parse(line) as Array<{ name: string; pm2_env: { status: string; PORT?: string; env?: { PORT?: string } } }>).map((p) => ({
          name: p.name, status: p.pm2_env.status, port: Number(p.pm2_env.PORT ?? p.pm2_env.env?.PORT) || undefined,
        }));
      },
      sessions: () => server.sessions(),
      running: () => server.running(),
      start: () => server.start(),
      stop: () => server.stop(),
    };
    await host.start();
    return host;
  }));

  return {
    hosts,
    keyDir,
    backend,
    host: (name) => hosts.find((h) => h.name === name) ?? (() => { throw new Error(`no test host ${name}`); })(),
    async cleanup() {
      // No new sessions first; then whatever still runs with a host's PM2_HOME (a pm2 CLI a session
      // left behind would start a new daemon once this one is gone), then the daemon and its processes.
      await Promise.all(hosts.map((h) => h.stop()));
      for (const h of hosts) killByPm2Home(h.pm2Home);
      await Promise.all(hosts.map((h) => killPm2At(h.pm2Home)));
      await new Promise((r) => setTimeout(r, 300));
      for (const h of hosts) killByPm2Home(h.pm2Home);
      await Promise.all(hosts.map((h) => killPm2At(h.pm2Home)));
      await Promise.all([...hosts.map((h) => rm(h.home, { recursive: true, force: true })), rm(keyDir, { recursive: true, force: true })]);
    },
  };
}
