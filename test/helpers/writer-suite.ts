import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ChildTracker } from './child-processes.js';
import { compileFixture, type CompiledFixture } from './compile-fixture.js';

export interface WriterSuite {
  readonly children: ChildTracker;
  /** The suite's temp folder. */
  work(): string;
  /** The compiled policy writer (test/fixtures/policy-writer.ts) to run with plain node. */
  writer(): string;
}

/**
 * The set-up every suite that drives real policy writers shares: a temp
 * folder, the writer compiled once, every child killed after each test, and
 * all of it removed at the end. Call at the top of a describe block or file.
 */
export function useWriterSuite(prefix: string): WriterSuite {
  const children = new ChildTracker();
  let work: string | undefined;
  let compiled: CompiledFixture | undefined;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), prefix));
    compiled = await compileFixture('test/fixtures/policy-writer.ts');
  });
  afterEach(() => children.killAll());
  afterAll(async () => {
    await children.killAll();
    await compiled?.remove();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });
  return {
    children,
    work: () => work!,
    writer: () => compiled!.path,
  };
}

/** Temp files (a killed writer's leftovers) in a folder. */
export async function countTempFiles(dir: string): Promise<number> {
  return (await readdir(dir)).filter((name) => name.endsWith('.tmp')).length;
}
