import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A private PM2_HOME for one test suite, and the clean-up that ends the PM2
 * daemon started in it. Rules (docs STACK.md, "PM2 traps"):
 *
 * - The folder is short (`/tmp/sy-pm2-XXXXXX`): PM2 puts rpc.sock and
 *   pub.sock inside it and unix socket paths are limited to 107 bytes.
 * - Pass `env` to every child that may load pm2 (the CLI, the router), and
 *   write `home` as `pm2Home` in the config, so nothing touches ~/.pm2.
 * - cleanup() signals the daemon by the pid in `<home>/pm2.pid` (never by
 *   name), waits for it and for every process it was running to be gone,
 *   SIGKILLs what is left, removes the folder, and throws if anything
 *   survived.
 *
 *   const pm2 = await makePm2Home();
 *   afterAll(() => pm2.cleanup());
 *   await runCli(['router', 'start'], { cwd, env: pm2.env });
 */
export interface Pm2Home {
  home: string;
  env: { PM2_HOME: string };
  /** The daemon's pid when one runs in this home. */
  daemonPid(): number | undefined;
  cleanup(): Promise<void>;
}

/** The user's own PM2_HOME, which tests must never create or touch. */
export const USER_PM2_HOME = join(homedir(), '.pm2');

/** A pid read from a pid file, or undefined when there is none. */
export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a container's init may not reap a detached daemon at once). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return !existsSync('/proc/self/stat');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(pidAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = alive.filter(pidAlive);
  }
  return alive;
}

/** The pids of the processes PM2 runs, from `<home>/pids/*.pid`. */
export function appPids(home: string): number[] {
  try {
    return readdirSync(join(home, 'pids'))
      .filter((name) => name.endsWith('.pid'))
      .map((name) => readPid(join(home, 'pids', name)))
      .filter((pid): pid is number => pid !== undefined);
  } catch {
    return [];
  }
}

export async function makePm2Home(): Promise<Pm2Home> {
  const home = await mkdtemp('/tmp/sy-pm2-');
  if (Buffer.byteLength(join(home, 'rpc.sock')) > 107) throw new Error(`PM2_HOME ${home} is too long for a unix socket path`);
  const daemonPid = () => {
    const pid = readPid(join(home, 'pm2.pid'));
    return pid !== undefined && pidAlive(pid) ? pid : undefined;
  };
  return {
    home,
    env: { PM2_HOME: home },
    daemonPid,
    async cleanup() {
      // Read every pid first: the daemon deletes pm2.pid and the pid files as it exits.
      const daemon = daemonPid();
      const apps = appPids(home).filter(pidAlive);
      if (daemon !== undefined) {
        // SIGTERM: PM2 deletes its processes (each gets SIGINT, then its kill timeout) and exits.
        signal(daemon, 'SIGTERM');
        if ((await waitGone([daemon], 20_000)).length > 0) signal(daemon, 'SIGKILL');
      }
      let left = await waitGone([...(daemon === undefined ? [] : [daemon]), ...apps], 5_000);
      for (const pid of left) signal(pid, 'SIGKILL');
      left = await waitGone(left, 5_000);
      await rm(home, { recursive: true, force: true });
      if (left.length > 0) throw new Error(`PM2 processes still alive after clean-up of ${home}: ${left.join(', ')}`);
      if (daemon !== undefined && pidAlive(daemon)) throw new Error(`the PM2 daemon ${daemon} of ${home} is still alive`);
    },
  };
}

/**
 * Call when a suite loads; the returned check (for afterAll) throws if
 * ~/.pm2 appeared meanwhile. (With several test files in parallel it names
 * the window, not the culprit: any of them may have created it.)
 */
export function guardUserPm2Home(): () => void {
  const existed = existsSync(USER_PM2_HOME);
  return () => {
    if (!existed && existsSync(USER_PM2_HOME)) {
      throw new Error(`${USER_PM2_HOME} was created while this suite ran: something loaded pm2 without PM2_HOME set to a test folder`);
    }
  };
}
