import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../helpers/cli.js';

/**
 * `switchyard startup` with the built CLI: the unit printed (nothing
 * written, no question asked without a TTY), then written with --yes into
 * a folder of the test's (--dir), never systemd's own, and no systemctl.
 * Where systemd-analyze is installed the written unit is also verified
 * offline by systemd's own parser.
 */

let dir: string;
let cleanup: () => Promise<void>;
const units = () => join(dir, 'units');
// CI unset: only the missing TTY (stdin is not one) keeps it from asking.
const cli = (...args: string[]) => runCli(args, { cwd: dir, env: { PM2_HOME: join(dir, '.switchyard', 'pm2'), CI: undefined } });

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sy-startup-'));
  const init = await runCli(['init', '--yes', '--service', 'lobby'], { cwd: dir });
  expect(init.exitCode, init.stderr).toBe(0);
});
afterAll(async () => {
  await cleanup();
});

const keys = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('switchyard startup', () => {
  it('prints the unit and writes nothing without --yes, asking nothing without a TTY', async () => {
    const result = await cli('startup', '--dir', units());
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('[Service]');
    expect(result.stdout).toContain('ExecStart=');
    expect(result.stderr).toMatch(/nothing was written: pass --yes/);
    expect(existsSync(units())).toBe(false);
    const json = await cli('startup', '--json');
    expect(json.exitCode, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ ok: true, written: false, enabled: false, file: `/etc/systemd/system/${out.name}` });
    // Not into systemd's own folder either.
    expect(existsSync(out.file)).toBe(false);
  });

  it('with --yes writes a unit of absolute paths: the user, PM2_HOME, Restart=, After=network-online.target, the project\'s switchyard', async () => {
    const result = await cli('startup', '--yes', '--dir', units(), '--json');
    expect(result.exitCode, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ ok: true, written: true, enabled: false, name: expect.stringMatching(/^switchyard-sy-startup-.*\.service$/) });
    expect(await readdir(units())).toEqual([out.name]);
    const unit = await readFile(out.file, 'utf8');
    expect(unit).toBe(out.unit);
    expect(((await stat(out.file)).mode & 0o777).toString(8)).toBe('644');

    const pm2Home = join(dir, '.switchyard', 'pm2');
    expect(keys(unit, 'User')).toEqual([userInfo().username]);
    expect(keys(unit, 'Environment')).toContain(`"PM2_HOME=${pm2Home}"`);
    expect(keys(unit, 'PIDFile')).toEqual([`${pm2Home}/pm2.pid`]);
    expect(keys(unit, 'WorkingDirectory')).toEqual([dir]);
    expect(keys(unit, 'Restart')).toEqual(['on-failure']);
    expect(keys(unit, 'After')).toEqual(['network-online.target']);
    expect(keys(unit, 'Wants')).toEqual(['network-online.target']);
    const [node, bin, ...rest] = keys(unit, 'ExecStart')[0]!.split(' ');
    expect(node).toMatch(/^\//);
    expect(existsSync(node!)).toBe(true);
    expect(bin).toBe(BIN);
    expect(rest).toEqual(['router', 'start', '--config', join(dir, 'switchyard.config.yaml')]);
    for (const key of ['WorkingDirectory', 'PIDFile', 'EnvironmentFile']) for (const value of keys(unit, key)) expect(value.replace(/^-/, ''), key).toMatch(/^\//);
    expect(result.stderr).toMatch(/sudo systemctl daemon-reload.*sudo systemctl enable/);

    const analyze = spawnSync('systemd-analyze', ['verify', out.file], { encoding: 'utf8', timeout: 20_000 });
    if (analyze.error !== undefined) console.warn('skipping the offline check: install systemd (systemd-analyze)');
    else {
      expect(analyze.status, analyze.stderr).toBe(0);
      // Its warnings name the file and line ("Unknown key …, ignoring"): none for ours.
      expect(analyze.stderr).not.toContain(out.file);
    }

    const again = JSON.parse((await cli('startup', '--yes', '--dir', units(), '--json')).stdout);
    expect(again).toMatchObject({ written: false, unit });
  });

  it("runs the project's own switchyard when the project has one installed", async () => {
    const own = join(dir, 'node_modules', 'switchyard-cli', 'bin', 'switchyard.js');
    await mkdir(resolve(own, '..'), { recursive: true });
    await writeFile(own, '// the project\'s installed switchyard\n');
    const out = JSON.parse((await cli('startup', '--dir', units(), '--json')).stdout);
    expect(keys(out.unit, 'ExecStart')[0]!.split(' ')[1]).toBe(own);
  });

  it('--user: a user unit, no User=, wanted by default.target', async () => {
    const out = JSON.parse((await cli('startup', '--user', '--yes', '--dir', join(dir, 'user-units'), '--json')).stdout);
    expect(out).toMatchObject({ written: true, user: null, commands: ['systemctl --user daemon-reload', `systemctl --user enable ${out.name}`] });
    const unit = await readFile(out.file, 'utf8');
    expect(keys(unit, 'User')).toEqual([]);
    expect(keys(unit, 'WantedBy')).toEqual(['default.target']);
  });
});
