import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { designExamplePolicy } from '../fixtures/design-policy.js';
import { runCli, tempDir } from '../helpers/cli.js';

const DESIGN_EXAMPLE = designExamplePolicy();

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

describe('switchyard init', () => {
  it('writes a config, an empty valid policy and a 0600 token with --yes', async () => {
    const result = await runCli(['init', '--yes', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ ok: true, createdPolicy: true, createdToken: true });
    expect(await readFile(join(dir, 'switchyard.config.yaml'), 'utf8')).toContain('services:');
    const policy = JSON.parse(await readFile(join(dir, '.switchyard/policy.json'), 'utf8')) as { generation: number; services: object };
    expect(policy).toMatchObject({ schema: 1, generation: 0, services: {} });
    const token = await readFile(join(dir, '.switchyard/token'), 'utf8');
    expect(token.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(join(dir, '.switchyard/token'))).mode & 0o777).toBe(0o600);
  });

  it('on an existing config, --yes never touches it and creates only what is missing; --force overwrites it, keeping the token', async () => {
    expect((await runCli(['init', '--yes'], { cwd: dir })).exitCode).toBe(0);
    const configPath = join(dir, 'switchyard.config.yaml');
    const config = `${await readFile(configPath, 'utf8')}# edited by hand\n`;
    await writeFile(configPath, config);
    const written = (await stat(configPath)).mtimeMs;
    await rm(join(dir, '.switchyard'), { recursive: true });

    const again = await runCli(['init', '--yes', '--json'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, configKept: true, createdPolicy: true, createdToken: true, moved: null });
    expect(await readFile(configPath, 'utf8')).toBe(config);
    expect((await stat(configPath)).mtimeMs).toBe(written);
    const token = await readFile(join(dir, '.switchyard/token'), 'utf8');

    const third = await runCli(['init', '--yes', '--json'], { cwd: dir });
    expect(JSON.parse(third.stdout)).toMatchObject({ ok: true, configKept: true, createdPolicy: false, createdToken: false });
    expect(await readFile(join(dir, '.switchyard/token'), 'utf8')).toBe(token);

    // Without --yes and without a TTY it asks nothing and changes nothing; answers for a new config are refused.
    const asked = await runCli(['init'], { cwd: dir });
    expect(asked.exitCode).toBe(2);
    expect(asked.stderr).toMatch(/--yes.*--force/);
    expect(asked.stdout).toBe('');
    const answers = await runCli(['init', '--yes', '--ports', '9000-9010'], { cwd: dir });
    expect(answers.exitCode).toBe(2);
    expect(answers.stderr).toContain('--ports');
    expect(answers.stderr).toContain('--force');
    expect(await readFile(configPath, 'utf8')).toBe(config);

    const forced = await runCli(['init', '--yes', '--force', '--json'], { cwd: dir });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ createdToken: false, createdPolicy: false });
    expect(await readFile(configPath, 'utf8')).not.toContain('# edited by hand');
    expect(await readFile(join(dir, '.switchyard/token'), 'utf8')).toBe(token);
  });

  it('does not prompt without a TTY: exit 2 naming --yes', async () => {
    const result = await runCli(['init'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--yes');
    expect(result.stdout).toBe('');
  });

  it('takes every answer from flags', async () => {
    const result = await runCli(['init', '--service', 'lobby', '--script', 'srv/{version}/main.js', '--ports', '9100-9150', '--listen', '127.0.0.1:9099', '--json'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const config = await readFile(join(dir, 'switchyard.config.yaml'), 'utf8');
    expect(config).toContain('lobby');
    expect(config).toContain('srv/{version}/main.js');
    expect(config).toContain('9100-9150');
    expect(config).toContain('127.0.0.1:9099');
  });

  it.each([
    ['--service', 'bad name;rm'],
    ['--ports', 'lots'],
    ['--listen', 'nowhere'],
  ])('refuses %s %s with exit 2', async (flag, value) => {
    const result = await runCli(['init', '--yes', flag, value], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(flag);
  });
});

describe('switchyard policy', () => {
  beforeEach(async () => {
    expect((await runCli(['init', '--yes', '--service', 'lobby'], { cwd: dir })).exitCode).toBe(0);
  });

  it('shows the policy for people and as JSON', async () => {
    const human = await runCli(['policy', 'show'], { cwd: dir });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain('generation 0');
    const json = await runCli(['policy', 'show', '--json'], { cwd: dir });
    expect(JSON.parse(json.stdout)).toMatchObject({ schema: 1, generation: 0 });
  });

  it('shows a hand-written policy of the DESIGN shape', async () => {
    await writeFile(join(dir, '.switchyard/policy.json'), JSON.stringify(DESIGN_EXAMPLE, null, 2));
    const human = await runCli(['policy', 'show'], { cwd: dir });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain('lobby@1.4.0#0');
    expect(human.stdout).toContain('draining');
    expect((await runCli(['policy', 'validate'], { cwd: dir })).exitCode).toBe(0);
  });

  it('reports a corrupt policy file with its path, exit 2', async () => {
    const path = join(dir, '.switchyard/policy.json');
    await writeFile(path, '{"schema": 1, "generation": ');
    for (const args of [['policy', 'show'], ['policy', 'validate']]) {
      const result = await runCli(args, { cwd: dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(path);
    }
  });

  it('lists every problem of an invalid file by path', async () => {
    const bad = structuredClone(DESIGN_EXAMPLE) as any;
    bad.services.lobby.processes[0].port = 0;
    bad.services.lobby.processes[1].version = '1.4';
    bad.services.lobby.target = 'latest';
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify(bad));
    const result = await runCli(['policy', 'validate', file, '--json'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    const out = JSON.parse(result.stdout) as { error: string; problems: Array<{ path: string }> };
    expect(out.error).toBe('policy_invalid');
    const paths = out.problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['services.lobby.processes.0.port', 'services.lobby.processes.1.version', 'services.lobby.target']));
    expect(result.stderr).toContain('services.lobby.processes.0.port');
  });

  it('validates a given file without any config', async () => {
    const { dir: bare, cleanup: done } = await tempDir();
    try {
      await writeFile(join(bare, 'p.json'), JSON.stringify(DESIGN_EXAMPLE));
      const result = await runCli(['policy', 'validate', 'p.json', '--json'], { cwd: bare });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ valid: true, generation: 7, processes: 2 });
    } finally {
      await done();
    }
  });

  it('records history and diffs revisions written by the store', async () => {
    const { PolicyStore } = await import('../../dist/store/policy-store.js');
    const { claimStart, markActive, promote } = await import('../../dist/core/policy-transitions.js');
    const store = new PolicyStore(join(dir, '.switchyard'));
    const now = new Date('2026-11-25T10:00:00.000Z');
    const proc = { id: 'lobby@1.0.0#0.g1', version: '1.0.0', host: 'local', address: '127.0.0.1', port: 7500 };
    await store.update((p: any) => claimStart(p, 'lobby', [proc], { id: 'test' }, now));
    await store.update((p: any) => markActive(p, 'lobby', [proc.id], now));
    await store.update((p: any) => promote(p, 'lobby', '1.0.0', now, 60_000));

    const history = await runCli(['policy', 'history', '--json'], { cwd: dir });
    expect(history.exitCode, history.stderr).toBe(0);
    const revisions = (JSON.parse(history.stdout) as { revisions: Array<{ generation: number; changes: string[] }> }).revisions;
    expect(revisions.map((r) => r.generation)).toEqual([0, 1, 2, 3]);
    expect(revisions[3]!.changes.join(' ')).toContain('1.0.0');

    const human = await runCli(['policy', 'history'], { cwd: dir });
    expect(human.stdout).toContain('generation');

    const diff = await runCli(['policy', 'diff', '0', '3'], { cwd: dir });
    expect(diff.exitCode, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('lobby@1.0.0#0.g1');
    const missing = await runCli(['policy', 'diff', '0', '99'], { cwd: dir });
    expect(missing.exitCode).toBe(2);
    const badArg = await runCli(['policy', 'diff', 'zero', '1'], { cwd: dir });
    expect(badArg.exitCode).toBe(2);
  });
});

describe('the command line itself', () => {
  it('says where to start when there is no config', async () => {
    const result = await runCli(['policy', 'show'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('switchyard init');
  });

  it('gives --json errors as one JSON document on stdout', async () => {
    const result = await runCli(['policy', 'show', '--json'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: 'config_missing' });
  });

  it.each([
    [['no-such-command'], 2],
    [['init', '--no-such-flag'], 2],
    [['--version'], 0],
    [['--help'], 0],
  ])('switchyard %j exits %i', async (args, code) => {
    const result = await runCli(args, { cwd: dir });
    expect(result.exitCode).toBe(code);
  });
});
