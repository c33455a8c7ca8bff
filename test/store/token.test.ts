import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureToken, readToken, tokenPath } from '../../src/store/token.js';

/**
 * The token file is created whole, at mode 0600, and only once: first uses
 * racing each other all end up with the one token the winner made.
 */

let work: string;
let n = 0;
async function stateDir(): Promise<string> {
  const dir = join(work, `state-${(n += 1)}`);
  await mkdir(dir);
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-token-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('ensureToken', () => {
  it('concurrent first uses yield one token, one creator, mode 0600 even under umask 000, no temp file left', async () => {
    const ROUNDS = 20;
    const RACERS = 8;
    const previous = process.umask(0);
    let creators = 0;
    try {
      for (let round = 0; round < ROUNDS; round += 1) {
        const dir = await stateDir();
        const results = await Promise.all(Array.from({ length: RACERS }, () => ensureToken(dir)));
        expect(new Set(results.map((r) => r.token)).size).toBe(1);
        expect(results.filter((r) => r.created)).toHaveLength(1);
        creators += results.filter((r) => r.created).length;
        expect(await readToken(dir)).toBe(results[0]!.token);
        expect((await stat(tokenPath(dir))).mode & 0o777).toBe(0o600);
        expect(await readdir(dir)).toEqual(['token']);
      }
    } finally {
      process.umask(previous);
    }
    console.log(`token: ${ROUNDS} rounds of ${RACERS} racing first uses, ${creators} tokens created (one per round)`);
  });

  it('refuses a token that is a symlink or a folder, naming the path', async () => {
    const linked = await stateDir();
    const elsewhere = join(work, `elsewhere-${n}`);
    await writeFile(elsewhere, `${'ab'.repeat(32)}\n`);
    await symlink(elsewhere, tokenPath(linked));
    await expect(ensureToken(linked)).rejects.toMatchObject({ code: 'state_symlink', message: expect.stringContaining(tokenPath(linked)) as unknown });

    const folder = await stateDir();
    await mkdir(tokenPath(folder));
    await expect(readToken(folder)).rejects.toMatchObject({ code: 'state_wrong_type', message: expect.stringContaining(`${tokenPath(folder)} is a folder`) as unknown });
  });

  it('says to run init when there is no state folder', async () => {
    await expect(ensureToken(join(work, 'nowhere'))).rejects.toMatchObject({ code: 'state_missing' });
  });
});
