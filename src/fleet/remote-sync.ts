import { execa } from 'execa';
import { failedError } from '../core/errors.js';
import { SAFE_REMOTE_PATH } from '../config/fields.js';
import { TAR_UNPACK } from './remote-scripts.js';
import { lastLines, runSsh, shellQuote, sshOptionArgs, type SshHost } from './ssh.js';

export type SyncMethod = 'rsync' | 'tar' | 'copy' | 'none';

let localRsync: Promise<boolean> | undefined;

/** Whether this machine has rsync (asked once per process). */
function hasLocalRsync(): Promise<boolean> {
  localRsync ??= execa('rsync', ['--version'], { reject: false, timeout: 5000, stdin: 'ignore' }).then((r) => r.exitCode === 0, () => false);
  return localRsync;
}

/** rsync reads `-e` with its own quoting rules; we only hand it words that need none. */
const PLAIN_WORD = /^[A-Za-z0-9_.\/~+@%,:=-]+$/;

function rsyncFits(host: SshHost, dir: string): boolean {
  const sshWords = sshOptionArgs(host);
  return sshWords.every((w) => PLAIN_WORD.test(w)) && host.ssh !== undefined && !host.ssh.includes(':') && SAFE_REMOTE_PATH.test(dir);
}

async function withRsync(host: SshHost, localDir: string, dir: string, timeoutMs: number): Promise<void> {
  const result = await execa('rsync', [
    '-a',
    // The folder may not exist yet; rsync's remote side runs through the remote shell, hence the quoting.
    '--rsync-path', `mkdir -p -- ${shellQuote(dir)} && rsync`,
    '-e', ['ssh', ...sshOptionArgs(host)].join(' '),
    '--', `${localDir}/`, `${host.ssh}:${dir}/`,
  ], { reject: false, timeout: timeoutMs, killSignal: 'SIGTERM', forceKillAfterDelay: 2000, stdin: 'ignore' });
  if (result.timedOut) throw failedError('sync_timeout', `copying ${localDir} to host ${host.name} with rsync took over ${Math.round(timeoutMs / 1000)}s and was stopped`, { host: host.name });
  if (result.exitCode !== 0) {
    throw failedError('sync_failed', `could not copy ${localDir} to ${dir} on host ${host.name} with rsync (exit ${result.exitCode}): ${lastLines(String(result.stderr)) || 'no output'}`, { host: host.name });
  }
}

async function withTar(host: SshHost, localDir: string, dir: string, timeoutMs: number): Promise<void> {
  const tar = execa('tar', ['-C', localDir, '-cf', '-', '.'], { reject: false, timeout: timeoutMs, killSignal: 'SIGTERM', stdin: 'ignore', buffer: { stdout: false } });
  let unpacked: Error | undefined;
  try {
    await runSsh(host, ['sh', '-c', TAR_UNPACK, 'sh', dir], { what: `unpack ${localDir} into ${dir}`, input: tar.stdout!, timeoutMs });
  } catch (error) {
    unpacked = error as Error;
    tar.kill('SIGTERM');
  }
  const packed = await tar;
  if (unpacked !== undefined) throw unpacked;
  if (packed.exitCode !== 0) {
    throw failedError('sync_failed', `could not pack ${localDir} with tar for host ${host.name} (exit ${packed.exitCode}): ${lastLines(String(packed.stderr)) || 'no output'}`, { host: host.name });
  }
}

/**
 * Copies the contents of a local folder into a folder on the host: rsync
 * over ssh when both ends have it (only changed files travel), otherwise a
 * tar stream piped through ssh. Returns the method used.
 */
export async function syncFolder(host: SshHost, localDir: string, dir: string, opts: { remoteRsync: boolean; timeoutMs: number }): Promise<SyncMethod> {
  if (opts.remoteRsync && rsyncFits(host, dir) && (await hasLocalRsync())) {
    await withRsync(host, localDir, dir, opts.timeoutMs);
    return 'rsync';
  }
  await withTar(host, localDir, dir, opts.timeoutMs);
  return 'tar';
}
