import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

/**
 * Helpers for security.test.ts: the sockets a process listens on (from
 * /proc, so it works inside another network namespace too), a recording
 * `ssh` shim, and checks on what reached a command line.
 */

export interface Listener {
  address: string;
  port: number;
}

function hexAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  return hex === '0'.repeat(32) ? '::' : hex === '00000000000000000000000001000000' ? '::1' : `v6:${hex}`;
}

/** TCP sockets in LISTEN state in the network namespace of `pid`, owned by `pid`. */
export function listenersOf(pid: number): Listener[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const found: Listener[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [addr, port] = f[1]!.split(':');
      if (f[3] === '0A' && inodes.has(f[9]!)) found.push({ address: hexAddress(addr!), port: parseInt(port!, 16) });
    }
  }
  return found;
}

/** Whether `unshare -n` works here (root, or user namespaces allowed), with `ip` to bring its loopback up. */
export function canUnshareNet(): boolean {
  try {
    execFileSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** This machine's first IPv4 address that is not loopback, if any. */
export function externalIPv4(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

/**
 * Writes `ssh` into `binDir`: it appends its argv as one JSON line to
 * `log`, then does what ssh does with a remote command, locally: hands its
 * last argument to `sh -c` (the "remote" user's shell), with stdin, stdout,
 * stderr and the exit code passed through, and HOME set to `remoteHome`.
 */
export async function writeSshShim(binDir: string, log: string, remoteHome: string): Promise<void> {
  const shim = `#!${process.execPath}
const { appendFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const args = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
const r = spawnSync('/bin/sh', ['-c', args[args.length - 1]], { stdio: 'inherit', env: { ...process.env, HOME: ${JSON.stringify(remoteHome)} } });
process.exit(r.status === null ? 255 : r.status);
`;
  await writeFile(join(binDir, 'ssh'), shim);
  await chmod(join(binDir, 'ssh'), 0o755);
}

/** One POSIX-shell word in single quotes, a `'` inside written as `'\''`. */
const QUOTED_WORD = String.raw`'[^']*'(?:\\''[^']*')*`;
const ONLY_QUOTED_WORDS = new RegExp(`^${QUOTED_WORD}(?: ${QUOTED_WORD})*$`);

/** Whether a remote command string is nothing but single-quoted words: no metacharacter outside quotes. */
export function onlyQuotedWords(command: string): boolean {
  return ONLY_QUOTED_WORDS.test(command);
}

/** The words of a command string made of single-quoted words, as the remote shell reads them. */
export function unquoteWords(command: string): string[] {
  return [...command.matchAll(new RegExp(QUOTED_WORD, 'g'))].map((m) => m[0].slice(1, -1).replaceAll(`'\\''`, "'"));
}

/**
 * Problems with one recorded ssh argv: options first (each a known flag or
 * a value of the form the config allows), then "--", the target, and one
 * remote command made only of quoted words.
 */
export function sshArgvProblems(argv: string[], target: string): string[] {
  const problems: string[] = [];
  const end = argv.indexOf('--');
  if (end === -1) return [`no "--" before the target: ${JSON.stringify(argv)}`];
  for (let i = 0; i < end; i += 1) {
    const a = argv[i]!;
    if (a === '-T') continue;
    if (['-o', '-p', '-i'].includes(a) && i + 1 < end && /^[A-Za-z0-9_.\/~+@%,:=-]+$/.test(argv[i + 1]!) && !argv[i + 1]!.startsWith('-')) {
      i += 1;
      continue;
    }
    problems.push(`unexpected ssh option ${JSON.stringify(a)} in ${JSON.stringify(argv.slice(0, end))}`);
  }
  const rest = argv.slice(end + 1);
  if (rest.length !== 2 || rest[0] !== target) problems.push(`expected the target and one command after "--", got ${JSON.stringify(rest).slice(0, 300)}`);
  else if (!onlyQuotedWords(rest[1]!)) problems.push(`the remote command has something outside single quotes: ${JSON.stringify(rest[1]).slice(0, 300)}`);
  return problems;
}
