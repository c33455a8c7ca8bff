import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCli, tempDir } from '../helpers/cli.js';

/**
 * `init --from <ecosystem file>`: each PM2 app becomes a service, in every
 * format PM2 reads, with the fields switchyard has no setting for named.
 */
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const APPS = [
  {
    name: 'lobby',
    script: 'releases/{version}/server.js',
    args: '--verbose --region eu',
    cwd: 'releases/{version}',
    instances: 2,
    env: { NODE_ENV: 'production', WORKERS: 4, PORT: 3000 },
    env_production: { NODE_ENV: 'production' },
    max_memory_restart: '300M',
    kill_timeout: 5000,
    exec_mode: 'cluster',
    watch: true,
  },
  { name: 'chat worker', script: './chat.js', args: ['--queue', 'main'], instances: 'max' },
];

const FORMATS: Record<string, (apps: unknown[]) => string> = {
  'ecosystem.config.js': (apps) => `module.exports = ${JSON.stringify({ apps })};\n`,
  'ecosystem.config.cjs': (apps) => `module.exports = { apps: ${JSON.stringify(apps)} };\n`,
  'ecosystem.json': (apps) => JSON.stringify({ apps }, null, 2),
  'ecosystem.yaml': (apps) => stringify({ apps }),
};

async function project(): Promise<string> {
  const { dir, cleanup } = await tempDir('sy-init-from-');
  cleanups.push(cleanup);
  return dir;
}

describe('init --from', () => {
  it.each(Object.keys(FORMATS))('%s: every app a service, with what could not be carried over named', async (file) => {
    const dir = await project();
    await writeFile(join(dir, file), FORMATS[file]!(APPS));
    const result = await runCli(['init', '--from', file, '--yes', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as { ok: boolean; services: string[]; notCarried: string[]; notes: string[] };
    expect(body.services).toEqual(['lobby', 'chat-worker']);

    const config = parse(await readFile(join(dir, 'switchyard.config.yaml'), 'utf8')) as { services: Record<string, Record<string, unknown>> };
    expect(config.services.lobby).toMatchObject({
      script: 'releases/{version}/server.js',
      args: ['--verbose', '--region', 'eu'],
      cwd: 'releases/{version}',
      instances: 2,
      env: { NODE_ENV: 'production', WORKERS: '4' },
      killTimeout: '5000ms',
      ports: '7500-7599',
    });
    expect(config.services['chat-worker']).toMatchObject({ script: './chat.js', args: ['--queue', 'main'], ports: '7600-7699' });
    // No key was invented for what switchyard has no setting for.
    expect(Object.keys(config.services.lobby!)).not.toContain('max_memory_restart');
    expect(Object.keys(config.services.lobby!)).not.toContain('maxMemoryRestart');

    expect(body.notCarried).toEqual(expect.arrayContaining([
      expect.stringMatching(/^lobby\.max_memory_restart: switchyard has no memory limit setting/),
      expect.stringMatching(/^lobby\.env\.PORT: switchyard sets PORT/),
      expect.stringMatching(/^lobby\.env_production: /),
      expect.stringMatching(/^lobby\.exec_mode: /),
      expect.stringMatching(/^lobby\.watch: /),
      expect.stringMatching(/^chat-worker\.instances: "max"/),
    ]));
    expect(body.notes).toEqual([expect.stringMatching(/^chat-worker\.script is \.\/chat\.js: every version would run that same file/)]);
    expect(result.stderr).toContain('not carried over:');
    expect(result.stderr).toContain('lobby.max_memory_restart');

    // The config is one every command reads.
    const validate = await runCli(['policy', 'validate', '--json'], { cwd: dir });
    expect(validate.exitCode, validate.stdout + validate.stderr).toBe(0);
  });

  it('reads an ES module ecosystem file (export default) in a "type": "module" folder', async () => {
    const dir = await project();
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    await writeFile(join(dir, 'ecosystem.config.js'), `export default ${JSON.stringify({ apps: [{ name: 'api', script: 'releases/{version}/api.js' }] })};\n`);
    const result = await runCli(['init', '--from', 'ecosystem.config.js', '--yes', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ services: ['api'], notCarried: [], notes: [] });
  });

  it('a missing file, a file without apps, and an app without script are usage errors that write nothing', async () => {
    const dir = await project();
    await mkdir(join(dir, 'x'));
    await writeFile(join(dir, 'empty.json'), '{"apps": []}');
    await writeFile(join(dir, 'noscript.json'), '{"apps": [{"name": "a"}]}');
    for (const [file, code] of [['nope.config.js', 'ecosystem_unreadable'], ['empty.json', 'ecosystem_invalid'], ['noscript.json', 'ecosystem_invalid']] as const) {
      const result = await runCli(['init', '--from', file, '--yes', '--json'], { cwd: dir });
      expect(result.exitCode, file).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: code });
    }
    const both = await runCli(['init', '--from', 'empty.json', '--template', 'service', '--yes'], { cwd: dir });
    expect(both.exitCode).toBe(2);
    await expect(readFile(join(dir, 'switchyard.config.yaml'))).rejects.toThrow();
  });
});
