import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli, tempDir } from '../helpers/cli.js';

/**
 * `switchyard init --template service`: the config plus the sample service
 * (templates/service/server.mjs) dropped where the config's script points
 * for version 1.0.0.
 */

const TEMPLATE = resolve(import.meta.dirname, '../../templates/service/server.mjs');
const SAMPLE = join('releases', '1.0.0', 'server.mjs');
const cleanups: Array<() => Promise<void>> = [];

async function project(): Promise<string> {
  const { dir, cleanup } = await tempDir('sy-init-template-');
  cleanups.push(cleanup);
  return dir;
}

afterAll(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('init --template service', () => {
  it('writes releases/1.0.0/server.mjs and a config whose script is releases/{version}/server.mjs', async () => {
    const dir = await project();
    const result = await runCli(['init', '--yes', '--template', 'service', '--service', 'lobby', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ ok: true, service: 'lobby', sample: join(dir, SAMPLE) });

    expect(await readFile(join(dir, SAMPLE), 'utf8')).toBe(await readFile(TEMPLATE, 'utf8'));
    const config = parse(await readFile(join(dir, 'switchyard.config.yaml'), 'utf8')) as { services: Record<string, { script: string }> };
    expect(config.services.lobby!.script).toBe('releases/{version}/server.mjs');
    // The sample is a module node can parse as it stands.
    await promisify(execFile)(process.execPath, ['--check', join(dir, SAMPLE)]);

    // The project is usable at once: the policy and token exist, the config validates.
    expect(existsSync(join(dir, '.switchyard', 'policy.json'))).toBe(true);
    expect(existsSync(join(dir, '.switchyard', 'token'))).toBe(true);
    const validate = await runCli(['policy', 'validate', '--json'], { cwd: dir });
    expect(validate.exitCode, validate.stderr + validate.stdout).toBe(0);
  });

  it('without --template the script default stays releases/{version}/server.js and no sample is written', async () => {
    const dir = await project();
    const result = await runCli(['init', '--yes', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ sample: null });
    expect(existsSync(join(dir, 'releases'))).toBe(false);
  });

  it('an unknown template exits 2 naming the templates there are, and writes nothing', async () => {
    const dir = await project();
    const result = await runCli(['init', '--yes', '--template', 'nope'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('"nope"');
    expect(result.stderr).toContain('service');
    expect(result.stdout).toBe('');
    expect(existsSync(join(dir, 'switchyard.config.yaml'))).toBe(false);

    const json = await runCli(['init', '--yes', '--template', 'nope', '--json'], { cwd: dir });
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: 'unknown_template' });
  });

  it('an existing sample file is not overwritten without --force (exit 2), and is with it', async () => {
    const dir = await project();
    await mkdir(join(dir, 'releases', '1.0.0'), { recursive: true });
    await writeFile(join(dir, SAMPLE), '// my own server\n');

    const refused = await runCli(['init', '--yes', '--template', 'service', '--json'], { cwd: dir });
    expect(refused.exitCode).toBe(2);
    const error = JSON.parse(refused.stdout) as { ok: boolean; error: string; message: string };
    expect(error).toMatchObject({ ok: false, error: 'file_exists' });
    expect(error.message).toContain(join(dir, SAMPLE));
    expect(error.message).toContain('--force');
    expect(await readFile(join(dir, SAMPLE), 'utf8')).toBe('// my own server\n');

    const forced = await runCli(['init', '--yes', '--template', 'service', '--force', '--json'], { cwd: dir });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await readFile(join(dir, SAMPLE), 'utf8')).toBe(await readFile(TEMPLATE, 'utf8'));
  });
});
