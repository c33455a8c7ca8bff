import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/core/errors.js';
import { remoteCommand, shellQuote, sshArgs } from '../../src/fleet/ssh.js';

/**
 * ssh hands the remote command to the remote user's shell as one string, so
 * every word is quoted by shellQuote. Each nasty string here must come back
 * byte for byte through a real shell, never run as code.
 */
const NASTY = [
  '',
  'plain',
  'two words',
  "it's",
  "'",
  "''",
  "'\\''",
  '"',
  '$(touch /tmp/switchyard-pwned)',
  '`touch /tmp/switchyard-pwned`',
  '1.0.0;touch /tmp/switchyard-pwned',
  '1.0.0 && touch /tmp/switchyard-pwned',
  '1.0.0\ntouch /tmp/switchyard-pwned',
  '-oProxyCommand=touch /tmp/switchyard-pwned',
  '$HOME ${HOME} $1 $@ $*',
  '\\',
  '\\\\n',
  '*',
  '~',
  '~root',
  '!',
  '#comment',
  'a|b&c>d<e',
  '\t\r\n',
  ' leading and trailing ',
  'é✓ – unicode',
  '--',
  '%s %n',
  "x'$(id)'y",
  '\u0001\u007f',
];

async function roundTrip(shell: string, words: string[]): Promise<string[]> {
  // printf writes each argument followed by NUL, so empty strings and newlines survive.
  const { stdout } = await execa(shell, ['-c', `printf '%s\\0' ${words.map(shellQuote).join(' ')}`], { stripFinalNewline: false });
  return stdout.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  for (const shell of ['sh', 'bash']) {
    it(`round-trips every nasty string through a real ${shell} -c`, async () => {
      expect(await roundTrip(shell, NASTY)).toEqual(NASTY);
    });
  }

  it.each(NASTY.map((s) => [s]))('round-trips %j alone', async (word) => {
    expect(await roundTrip('sh', [word])).toEqual([word]);
  });

  it('survives two shells: the remote login shell, then sh -c with positional parameters', async () => {
    // What the remote side does with remoteCommand(['sh', '-c', SCRIPT, 'sh', value]).
    const line = remoteCommand(['sh', '-c', 'printf "%s\\0" "$@"', 'sh', ...NASTY]);
    const { stdout } = await execa('sh', ['-c', line], { stripFinalNewline: false });
    expect(stdout.split('\0').slice(0, -1)).toEqual(NASTY);
  });

  it('always starts with a quote, so no word can read as an option', () => {
    for (const word of NASTY) expect(shellQuote(word).startsWith("'")).toBe(true);
  });

  it('refuses NUL, which no shell word can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(SwitchyardError);
  });
});

describe('sshArgs', () => {
  const host = { name: 'edge-1', ssh: 'deploy@edge-1', port: 2222, identityFile: '/keys/id ed25519', sshOptions: ['StrictHostKeyChecking=accept-new'] };

  it('puts BatchMode first, the config options next, "--" before the target and one quoted command last', () => {
    const args = sshArgs(host, ['sh', '-c', 'echo "$1"', 'sh', '$(id)'], 7);
    expect(args).toEqual([
      '-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', 'ConnectTimeout=7',
      '-p', '2222', '-i', '/keys/id ed25519', '--', 'deploy@edge-1', `'sh' '-c' 'echo "$1"' 'sh' '$(id)'`,
    ]);
  });

  it('refuses a host without an ssh target', () => {
    expect(() => sshArgs({ ...host, ssh: undefined }, ['true'])).toThrow(/no ssh target/);
  });
});
