import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileExclusive, isTempName, removeStaleTempFiles, writeFileAtomic } from '../../src/store/atomic-write.js';

let work: string;
/** The host tag the store puts in its temp names (atomic-write.ts). */
const hostTag = () => createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
let n = 0;
/** A fresh folder per test, inside one temp folder removed at the end. */
async function folder(): Promise<string> {
  const dir = join(work, `case-${(n += 1)}`);
  await mkdir(dir);
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-atomic-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes and replaces the file, leaving no temp file behind', async () => {
    const dir = await folder();
    const target = join(dir, 'policy.json');
    await writeFileAtomic(target, 'first\n');
    await writeFileAtomic(target, 'second\n');
    expect(await readFile(target, 'utf8')).toBe('second\n');
    expect(await readdir(dir)).toEqual(['policy.json']);
  });

  it('applies the mode it is given', async () => {
    const dir = await folder();
    const target = join(dir, 'token');
    await writeFileAtomic(target, 'secret\n', 0o600);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
  });

  it('removes its temp file when the rename fails', async () => {
    const dir = await folder();
    // A non-empty folder where the file should go makes rename(2) fail after the temp file is written.
    await mkdir(join(dir, 'policy.json', 'inside'), { recursive: true });
    await expect(writeFileAtomic(join(dir, 'policy.json'), 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['policy.json']);
  });

  it('fails cleanly when the folder does not exist', async () => {
    const dir = await folder();
    await expect(writeFileAtomic(join(dir, 'missing', 'policy.json'), 'data')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('never shows a reader a partial file', async () => {
    const dir = await folder();
    const target = join(dir, 'big.json');
    const size = 512 * 1024;
    const versions = ['a', 'b', 'c'].map((ch) => ch.repeat(size));
    await writeFileAtomic(target, versions[0]!);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 40; i += 1) await writeFileAtomic(target, versions[i % 3]!);
      writing = false;
    })();
    let reads = 0;
    const torn: string[] = [];
    while (writing) {
      const text = await readFile(target, 'utf8');
      reads += 1;
      if (text.length !== size || !versions.includes(text)) torn.push(`${text.length} chars starting ${text.slice(0, 1)}`);
    }
    await writer;
    expect(torn).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });
});

describe('createFileExclusive', () => {
  it('of many creators at once exactly one creates the file, whole; the rest find it; nothing is ever overwritten', async () => {
    const dir = await folder();
    const target = join(dir, '7.json');
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => createFileExclusive(target, `writer ${i}\n`.repeat(1000))));
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    const winner = outcomes.indexOf('created');
    expect(await readFile(target, 'utf8')).toBe(`writer ${winner}\n`.repeat(1000));
    expect(await createFileExclusive(target, 'late\n')).toBe('exists');
    expect(await readFile(target, 'utf8')).toBe(`writer ${winner}\n`.repeat(1000));
    expect(await readdir(dir)).toEqual(['7.json']);
  });
});

describe('removeStaleTempFiles', () => {
  it('removes temp files of dead writers and old ones, and keeps the rest', async () => {
    const dir = await folder();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const otherHost = 'ffffffff'.startsWith(hostTag()) ? '00000000' : 'ffffffff';
    const names = {
      dead: `.policy.json.${dead}.abc123.tmp`,
      deadHere: `.policy.json.${dead}.${hostTag()}0123456789ab.tmp`,
      // The same pid on another host sharing the folder may be alive: only its age can tell.
      elsewhere: `.policy.json.${dead}.${otherHost}0123456789ab.tmp`,
      live: `.policy.json.${process.pid}.def456.tmp`,
      old: `.policy.json.${process.pid}.0a0b0c.tmp`,
      other: 'notes.tmp',
      policy: 'policy.json',
    };
    for (const name of Object.values(names)) await writeFile(join(dir, name), '');
    const longAgo = new Date(Date.now() - 120_000);
    await utimes(join(dir, names.old), longAgo, longAgo);

    expect(await removeStaleTempFiles(dir, 60_000)).toBe(3);
    expect((await readdir(dir)).sort()).toEqual([names.live, names.elsewhere, names.other, names.policy].sort());
  });

  it('recognises only its own temp names', () => {
    expect(isTempName('.policy.json.123.a1b2.tmp')).toBe(true);
    expect(isTempName('.7.json.99.ff.tmp')).toBe(true);
    expect(isTempName('policy.json')).toBe(false);
    expect(isTempName('.policy.json.tmp')).toBe(false);
  });
});
