import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { runCli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

it('drain --wait without a router says nothing will retire the version, then times out with exit 3', async () => {
  const listen = `127.0.0.1:${await freePort()}`;
  expect((await runCli(['init', '--yes', '--service', 'lobby', '--listen', listen], { cwd: dir })).exitCode).toBe(0);
  const process = (version: string, port: number) => ({ id: `lobby@${version}#0`, version, address: '127.0.0.1', port, state: 'active' });
  const policy = { schema: 1, generation: 0, services: { lobby: { target: '1.1.0', processes: [process('1.0.0', 7500), process('1.1.0', 7501)] } } };
  await writeFile(join(dir, '.switchyard/policy.json'), JSON.stringify(policy));

  const result = await runCli(['drain', '1.0.0', '--wait', '--timeout', '1s'], { cwd: dir });
  expect(result.exitCode, result.stderr).toBe(3);
  expect(result.stderr).toContain('the router is not answering');
  expect(result.stderr).toContain('switchyard router start');
});
