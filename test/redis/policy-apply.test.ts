import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { storeProject, twoVersions, type StoreKind, type StoreProject } from '../helpers/store-project.js';

// `policy apply <file>` with the built CLI, on the file store and on a real redis-server.
const available = redisServerAvailable();
const kinds: StoreKind[] = available ? ['files', 'redis'] : ['files'];

let redis: RedisServer | undefined;
beforeAll(async () => {
  if (available) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(kinds)('policy apply on %s', (kind) => {
  let project: StoreProject;
  beforeAll(async () => {
    project = await storeProject(kind, redis?.url);
  });
  afterAll(() => project?.cleanup());
  const cli = (args: string[]) => runCli(args, { cwd: project.dir, env: project.env });

  it('writes the file as the next generation, then writes nothing for the same content', async () => {
    // The file's own generation (41) is ignored: the store numbers revisions.
    await writeFile(join(project.dir, 'wanted.json'), JSON.stringify(twoVersions('1.4.0', 41)));
    const applied = await cli(['policy', 'apply', 'wanted.json', '--json']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ ok: true, changed: true, generation: 1, previousGeneration: 0 });
    const head = await project.store.read();
    expect(head.generation).toBe(1);
    expect(head.services.lobby?.target).toBe('1.4.0');
    const again = await cli(['policy', 'apply', 'wanted.json', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, generation: 1 });
    expect((await project.store.read()).generation).toBe(1);
  });

  it('refuses an invalid file with every problem (exit 2) and writes nothing', async () => {
    const before = (await project.store.read()).generation;
    await writeFile(join(project.dir, 'bad.json'), JSON.stringify({ schema: 1, generation: 0, services: { lobby: { target: 'one', processes: 3 } } }));
    const result = await cli(['policy', 'apply', 'bad.json']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('is not a valid policy');
    expect(result.stderr).toContain('services.lobby.processes');
    expect((await project.store.read()).generation).toBe(before);
    const missing = await cli(['policy', 'apply', 'nope.json']);
    expect(missing.exitCode).toBe(2);
  });

  it('lets concurrent applies each win a generation or exit 4, never lose one', async () => {
    const before = (await project.store.read()).generation;
    const head = await project.store.read();
    const files = await Promise.all(Array.from({ length: 5 }, async (_, i) => {
      const name = `race-${i}.json`;
      // Each file differs (its own canary weight), and each is a change the rules allow, so every apply is a real one.
      const policy = structuredClone(head);
      policy.services.lobby!.canary = { version: '1.5.0', weight: 10 * (i + 1) };
      await writeFile(join(project.dir, name), JSON.stringify(policy));
      return name;
    }));
    const results = await Promise.all(files.map((f) => cli(['policy', 'apply', f, '--json'])));
    const codes = results.map((r) => r.exitCode);
    expect(codes.every((c) => c === 0 || c === 4), results.map((r) => r.stderr).join('\n')).toBe(true);
    const won = codes.filter((c) => c === 0).length;
    const after = (await project.store.read()).generation;
    console.log(`policy apply race on ${kind}: ${won} applied, ${codes.length - won} conflicts (exit 4), generation ${before} -> ${after}`);
    expect(after - before).toBe(won);
    const generations = results.filter((r) => r.exitCode === 0).map((r) => (JSON.parse(r.stdout) as { generation: number }).generation);
    expect(new Set(generations).size).toBe(won);
    expect((await project.store.history()).map((e) => e.generation)).toEqual([...Array(after + 1).keys()]);
  });
});
