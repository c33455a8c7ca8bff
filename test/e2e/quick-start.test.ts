import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { pidAlive, readPid } from '../helpers/pm2-home.js';
import { killPm2At } from '../helpers/sshd.js';

/**
 * The README's quick start, word for word, as a new user runs it: this
 * repository packed with `npm pack` (as npm would publish it), an empty
 * folder, and the README's block run by `sh -e`. The one change: the
 * package comes from the packed tarball instead of the registry. The router
 * listens on a free port through SWITCHYARD_ROUTER_LISTEN (the documented
 * override), since 7400 may be taken on a shared machine.
 */
const ROOT = resolve(import.meta.dirname, '../..');
let work: string;
let project: string;
let tarball: string;
let transcript = '';

/** The sh block that follows the quick-start marker in README.md. */
async function quickStart(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- quick-start:[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error('README.md has no quick-start block');
  return block[1]!;
}

beforeAll(async () => {
  work = await mkdtemp('/tmp/sy-qs-');
  project = join(work, 'app');
  await execa('mkdir', [project]);
  // dist/ is built by `npm test` (npm run build) before the suites run.
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeout: 60_000 });
  tarball = join(work, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
}, 90_000);

afterAll(async () => {
  if (project !== undefined) await killPm2At(join(project, '.switchyard', 'pm2'));
  if (work !== undefined) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('the README quick start', () => {
  it('installs from the packed package, inits, starts the router, deploys, shows status and takes it all down', async () => {
    const block = await quickStart();
    expect(block).toContain('npm install switchyard-cli ws');
    const script = block.replace('npm install switchyard-cli ws', `npm install ${tarball} ws`);
    const result = await execa('sh', ['-e', '-x', '-c', script], {
      cwd: project,
      env: {
        CI: 'true', NO_COLOR: '1', FORCE_COLOR: undefined, PM2_HOME: undefined, NODE_OPTIONS: undefined,
        SWITCHYARD_ROUTER_LISTEN: `127.0.0.1:${await freePort()}`,
        // The registry is asked only for what the local cache lacks.
        npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false',
      },
      extendEnv: true, all: true, reject: false, timeout: 150_000, stdin: 'ignore',
    });
    transcript = String(result.all);
    expect(result.exitCode, transcript).toBe(0);

    expect(transcript).toMatch(/wrote the sample service to .*releases\/1\.0\.0\/server\.mjs/);
    expect(transcript).toMatch(/router running on http:\/\/127\.0\.0\.1:\d+/);
    expect(transcript).toMatch(/app@1\.0\.0 deployed as the target/);
    expect(transcript).toMatch(/^app {2}target 1\.0\.0 {2}generation \d+$/m);
    expect(transcript).toMatch(/^ {2}1\.0\.0 \* {2}active /m);
    expect(transcript).toMatch(/local: stopped (app@1\.0\.0#0\.g\d+r[0-9a-f]+, switchyard-router|switchyard-router, app@1\.0\.0#0\.g\d+r[0-9a-f]+)$/m);
    expect(transcript).toMatch(/stopped the PM2 daemon of/);

    // The command on PATH is switchyard, from the package switchyard-cli.
    expect(existsSync(join(project, 'node_modules', '.bin', 'switchyard'))).toBe(true);
    expect(JSON.parse(await readFile(join(project, 'package.json'), 'utf8')).dependencies).toHaveProperty('switchyard-cli');
    // Down kept the policy, and left no PM2 daemon behind.
    expect(JSON.parse(await readFile(join(project, '.switchyard', 'policy.json'), 'utf8')).services.app.target).toBe('1.0.0');
    const daemon = readPid(join(project, '.switchyard', 'pm2', 'pm2.pid'));
    expect(daemon === undefined || !pidAlive(daemon)).toBe(true);
  }, 180_000);
});
