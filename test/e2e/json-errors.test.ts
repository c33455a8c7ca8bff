import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';

/**
 * Under --json every failure, commander's usage errors included, is one JSON
 * document on stdout with ok:false, error and message, and exit 2; people
 * still get the sentence on stderr.
 */
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sy-json-errors-'));
});
afterAll(async () => cleanup?.());

describe('usage errors under --json', () => {
  it.each([
    [['depoly', '1.2.0', '--json'], 'unknown_command', /unknown command 'depoly'/],
    [['deploy', '--json'], 'missing_argument', /missing required argument 'version'/],
    [['deploy', '1.2.0', '--bogus', '--json'], 'unknown_option', /unknown option '--bogus'/],
    [['deploy', '1.2.0', '1.3.0', '--json'], 'excess_arguments', /too many arguments/],
    [['policy', 'nope', '--json'], 'unknown_command', /unknown command 'nope'/],
    [['--json'], 'usage', /a command is needed/],
  ])('switchyard %j prints one JSON document and exits 2', async (args, code, message) => {
    const result = await runCli(args, { cwd: dir });
    expect(result.exitCode).toBe(2);
    const body = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(body).toEqual({ ok: false, error: code, message: expect.stringMatching(message) });
    // Commander's own words (or the help, when no command was given) go to people on stderr.
    expect(result.stderr).toMatch(code === 'usage' ? /Usage: switchyard/ : message);
  });

  it('without --json stdout stays empty and the exit code is still 2', async () => {
    const result = await runCli(['depoly', '1.2.0'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("Did you mean deploy?");
  });

  it('a failure inside a command is one JSON document too (no config here: exit 2)', async () => {
    const result = await runCli(['status', '--json'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: expect.any(String), message: expect.any(String) });
  });
});
