import { execa } from 'execa';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../helpers/cli.js';

/**
 * `switchyard completion`: the bash script loaded into a real bash, asked
 * what it completes (as bash itself would, through COMP_WORDS and
 * COMPREPLY), with `switchyard` on PATH so the versions come from the
 * policy of the project in the current folder.
 */
let dir: string;
let cleanup: () => Promise<void>;
let script: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sy-completion-'));
  expect((await runCli(['init', '--yes', '--service', 'lobby'], { cwd: dir })).exitCode).toBe(0);
  const p = (version: string, port: number, state: string) => ({ id: `lobby@${version}#0`, version, address: '127.0.0.1', port, state });
  const policy = { schema: 1, generation: 3, services: { lobby: { target: '1.2.0', processes: [p('1.1.0', 7500, 'draining'), p('1.2.0', 7501, 'active'), p('1.10.0', 7502, 'active')] } } };
  await writeFile(join(dir, '.switchyard/policy.json'), JSON.stringify(policy));
  // The command the scripts call back into, as an installed package would put it on PATH.
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'switchyard'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  await chmod(join(dir, 'bin', 'switchyard'), 0o755);
  const result = await runCli(['completion', 'bash'], { cwd: dir });
  expect(result.exitCode, result.stderr).toBe(0);
  script = join(dir, 'switchyard.bash');
  await writeFile(script, result.stdout);
});
afterAll(async () => cleanup?.());

/** What the script offers for a command line, the cursor at its end ("" = a new word). */
async function complete(line: string): Promise<string[]> {
  const words = line.split(' ');
  const program = `source ${JSON.stringify(script)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE=${JSON.stringify(line)}
_switchyard
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await execa('bash', ['--norc', '--noprofile', '-c', program], { cwd: dir, env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, CI: 'true' }, reject: false, timeout: 20_000 });
  expect(result.exitCode, String(result.stderr)).toBe(0);
  return String(result.stdout).split('\n').filter((w) => w !== '');
}

describe('completion bash', () => {
  it('registers itself for the switchyard command', async () => {
    const result = await execa('bash', ['--norc', '--noprofile', '-c', `source ${JSON.stringify(script)}; complete -p switchyard`], { reject: false });
    expect(String(result.stdout).trim()).toBe('complete -F _switchyard switchyard');
  });

  it('completes command names, subcommands and shells', async () => {
    expect(await complete('switchyard ')).toEqual(expect.arrayContaining(['init', 'deploy', 'promote', 'rollback', 'drain', 'status', 'logs', 'down', 'completion', 'policy', 'router']));
    expect(await complete('switchyard dep')).toEqual(['deploy']);
    expect(await complete('switchyard d')).toEqual(['deploy', 'drain', 'down', 'demo']);
    expect(await complete('switchyard policy ')).toEqual(['show', 'validate', 'history', 'diff', 'apply']);
    expect(await complete('switchyard --json router st')).toEqual(['start', 'stop', 'status']);
    expect(await complete('switchyard completion ')).toEqual(['bash', 'zsh', 'fish']);
  });

  it("completes each command's flags, and the global ones", async () => {
    expect(await complete('switchyard deploy --w')).toEqual(['--wait']);
    expect(await complete('switchyard deploy 1.2.0 --can')).toEqual(['--canary']);
    expect(await complete('switchyard logs --')).toEqual(expect.arrayContaining(['--lines', '--follow', '--json', '--config', '--help']));
    expect(await complete('switchyard --')).toEqual(expect.arrayContaining(['--config', '--json', '--version']));
  });

  it('completes versions from the policy, asking switchyard each time', async () => {
    expect(await complete('switchyard promote ')).toEqual(['1.10.0', '1.2.0', '1.1.0']);
    expect(await complete('switchyard drain 1.1')).toEqual(['1.10.0', '1.1.0']);
    expect(await complete('switchyard --service lobby logs ')).toEqual(['1.10.0', '1.2.0', '1.1.0']);
    // rollback --to takes a version, wherever the command table gives a --to.
    expect(await complete('switchyard rollback --to 1.2')).toEqual(['1.2.0']);
    // The value of a flag is not a command: after --timeout nothing is offered.
    expect(await complete('switchyard drain --timeout ')).toEqual([]);
  });
});

describe('completion', () => {
  it('--versions prints the versions one a line, newest first; --json gives them as a list', async () => {
    expect((await runCli(['completion', '--versions'], { cwd: dir })).stdout).toBe('1.10.0\n1.2.0\n1.1.0');
    expect(JSON.parse((await runCli(['completion', '--versions', '--json'], { cwd: dir })).stdout)).toEqual({ ok: true, versions: ['1.10.0', '1.2.0', '1.1.0'] });
  });

  it('prints zsh and fish scripts too, and refuses an unknown shell (exit 2)', async () => {
    const zsh = await runCli(['completion', 'zsh'], { cwd: dir });
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain('complete -F _switchyard switchyard');
    const fish = await runCli(['completion', 'fish'], { cwd: dir });
    expect(fish.stdout).toContain("complete -c switchyard -n __fish_use_subcommand -a deploy");
    expect(fish.stdout).toContain('(switchyard completion --versions 2>/dev/null)');
    const bad = await runCli(['completion', 'tcsh', '--json'], { cwd: dir });
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: 'unknown_shell', message: expect.stringContaining('bash|zsh|fish') });
  });
});
