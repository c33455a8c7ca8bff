import { execa } from 'execa';
import type { HostConfig } from '../config/schema.js';
import { failedError, usageError, type SwitchyardError } from '../core/errors.js';
import { lineSplitter } from './log-follow.js';

/**
 * The one place switchyard runs anything on another host: the system `ssh`
 * client, started by execa with an argument array (no local shell). ssh
 * joins the remote command's words with spaces and hands the string to the
 * remote user's shell, so every word is quoted here by `shellQuote`; the
 * scripts themselves are constants in our code, and data reaches them only
 * as quoted positional parameters ($1, $2, ...).
 */

/**
 * Quotes one word for a POSIX shell: single quotes, each `'` inside written
 * as `'\''`. Nothing is special inside single quotes, so this is safe for
 * every string without NUL (which no shell word can hold).
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw usageError('invalid_argument', 'A value sent to a remote host cannot contain a NUL character.');
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A remote command line from words, each quoted. */
export function remoteCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** The ssh side of a host's config. */
export type SshHost = Pick<HostConfig, 'name' | 'ssh' | 'port' | 'identityFile' | 'sshOptions'>;

export interface SshCall {
  /** What the call does, for messages: "list PM2's processes". */
  what: string;
  /** Sent on the remote command's stdin. */
  input?: string | NodeJS.ReadableStream;
  timeoutMs?: number;
  /** Non-zero exits are returned, not thrown (ssh's own failures still throw). */
  allowFailure?: boolean;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export const DEFAULT_CONNECT_TIMEOUT_S = 10;
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;

/** ssh's arguments before the target: fixed settings first, since ssh keeps the first value it sees. */
export function sshOptionArgs(host: SshHost, connectTimeoutS = DEFAULT_CONNECT_TIMEOUT_S): string[] {
  const args = ['-T', '-o', 'BatchMode=yes'];
  for (const option of host.sshOptions) args.push('-o', option);
  // After the config's options, so a host may set its own ConnectTimeout.
  args.push('-o', `ConnectTimeout=${connectTimeoutS}`);
  if (host.port !== undefined) args.push('-p', String(host.port));
  if (host.identityFile !== undefined) args.push('-i', host.identityFile);
  return args;
}

/** The whole argument list for `ssh`: options, `--`, the target, then one quoted remote command string. */
export function sshArgs(host: SshHost, words: readonly string[], connectTimeoutS?: number): string[] {
  if (host.ssh === undefined) throw usageError('not_remote', `Host ${host.name} has no ssh target.`);
  // The target was validated by the config schema; the "--" keeps it from ever being read as an option.
  return [...sshOptionArgs(host, connectTimeoutS), '--', host.ssh, remoteCommand(words)];
}

function lastLines(text: string, n = 3): string {
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  return plain.trim().split(/\r?\n|\r/).map((l) => l.trim()).filter((l) => l !== '').slice(-n).join(' | ');
}

function where(host: SshHost): string {
  return `${host.ssh}${host.port === undefined ? '' : ` port ${host.port}`}`;
}

/** ssh's own failures (exit 255) in words, with what to do about the common ones. */
function unreachable(host: SshHost, stderr: string): SwitchyardError {
  const said = lastLines(stderr) || 'ssh exited with 255';
  let hint = '';
  if (/host key verification failed/i.test(stderr)) hint = `; its host key is not known here: ssh to it once by hand, or add sshOptions: [StrictHostKeyChecking=accept-new] to hosts.${host.name}`;
  else if (/permission denied/i.test(stderr)) hint = `; check hosts.${host.name}.identityFile and the key in the remote authorized_keys`;
  return failedError('host_unreachable', `host ${host.name} is unreachable over ssh (${where(host)}): ${said}${hint}`, { host: host.name });
}

/**
 * Runs quoted words on a host. Every call has a timeout and a kill signal;
 * errors name the host and say what failed.
 */
export async function runSsh(host: SshHost, words: readonly string[], call: SshCall): Promise<SshResult> {
  const timeoutMs = call.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const connectTimeoutS = Math.max(1, Math.min(DEFAULT_CONNECT_TIMEOUT_S, Math.floor(timeoutMs / 1000)));
  const child = execa('ssh', sshArgs(host, words, connectTimeoutS), {
    reject: false,
    timeout: timeoutMs,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 2000,
    stdin: call.input === undefined ? 'ignore' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  });
  // ssh may end before reading all its input (a refused connection): that is reported below, not as EPIPE.
  child.stdin?.on('error', () => {});
  if (typeof call.input === 'string') child.stdin?.end(call.input);
  else if (call.input !== undefined && child.stdin) call.input.pipe(child.stdin);
  const result = await child;
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (result.timedOut) {
    throw failedError('ssh_timeout', `could not ${call.what} on host ${host.name}: no answer within ${Math.round(timeoutMs / 1000)}s, so ssh was stopped`, { host: host.name });
  }
  if (result.failed && result.exitCode === undefined) {
    const said = String(result.message ?? '');
    const missing = /ENOENT/.test(said);
    throw failedError(missing ? 'ssh_missing' : 'ssh_failed', missing
      ? `the ssh client is not installed on this machine, so host ${host.name} cannot be reached: install openssh-client`
      : `ssh to host ${host.name} ended abnormally: ${said}`, { host: host.name });
  }
  const exitCode = result.exitCode ?? -1;
  if (exitCode === 255) throw unreachable(host, stderr);
  if (exitCode !== 0 && call.allowFailure !== true) {
    throw failedError('remote_command_failed', `could not ${call.what} on host ${host.name} (exit ${exitCode}): ${lastLines(stderr || stdout) || 'no output'}`, { host: host.name });
  }
  return { stdout, stderr, exitCode };
}

/**
 * Runs quoted words on a host and hands each line of their output to
 * `onLine` as it comes, until the command ends or `signal` aborts (then ssh
 * is stopped, and with it the remote side; see LOG_FOLLOW). No overall
 * timeout: the caller's signal is the end.
 */
export async function streamSsh(host: SshHost, words: readonly string[], onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
  // cleanup: false: execa's exit hook (signal-exit) counts its own callbacks as listeners and, with
  // two of these running, re-raises a SIGINT the caller handles. The caller's signal ends ssh instead;
  // and were this process killed outright, ssh's stdin closes and the remote side ends (LOG_FOLLOW).
  const child = execa('ssh', sshArgs(host, words), { reject: false, cleanup: false, cancelSignal: signal, killSignal: 'SIGTERM', forceKillAfterDelay: 2000, stdin: 'pipe', buffer: { stdout: false, stderr: true } });
  child.stdin?.on('error', () => {});
  const splitter = lineSplitter(onLine);
  child.stdout?.setEncoding('utf8').on('data', (text: string) => splitter.push(text));
  const result = await child;
  splitter.flush();
  if (signal.aborted) return;
  if (result.exitCode === 255) throw unreachable(host, String(result.stderr ?? ''));
  if (result.failed && result.exitCode === undefined) throw failedError('ssh_failed', `ssh to host ${host.name} ended abnormally: ${String(result.message ?? '')}`, { host: host.name });
}

export { lastLines };
