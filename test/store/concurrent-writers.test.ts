import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { captureStderr, ChildTracker, lineReader, waitExit } from '../helpers/child-processes.js';
import { compileFixture, type CompiledFixture } from '../helpers/compile-fixture.js';

/**
 * "Two concurrent writers never lose an update" (DESIGN.md), with four real
 * processes released at the same instant, each adding UPDATES distinct
 * process entries one update at a time (retrying conflicts). Every marker
 * must be in the final policy, the generation must have moved by exactly
 * the number of updates, and the history must show one marker added per
 * revision, with none lost or doubled anywhere along the way.
 */

const WRITERS = 4;
const UPDATES = 50;
const TOTAL = WRITERS * UPDATES;

const markerId = (writer: number, i: number) => `svc@1.0.${writer * 100 + i}#0`;

describe('policy store: concurrent writer processes', () => {
  const children = new ChildTracker();
  let work: string;
  let writer: CompiledFixture;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'switchyard-concurrent-'));
    writer = await compileFixture('test/fixtures/policy-writer.ts');
  });
  afterEach(() => children.killAll());
  afterAll(async () => {
    await children.killAll();
    await writer?.remove();
    await rm(work, { recursive: true, force: true });
  });

  it(`${WRITERS} writers × ${UPDATES} updates: all ${TOTAL} land, generation moves by exactly ${TOTAL}`, { timeout: 60_000 }, async () => {
    const stateDir = join(work, 'state');
    const store = new PolicyStore(stateDir);
    await store.init();
    // Start from a generation above 0, so "initial + TOTAL" is not trivially TOTAL.
    const initial = await store.update((policy) => ({ ...policy, services: { other: { target: null, canary: null, match: 'exact', login: 'force', processes: [] } } }));

    const runs = Array.from({ length: WRITERS }, (_, w) => {
      const child = children.spawn(process.execPath, [writer.path, 'add', stateDir, String(w), String(UPDATES)]);
      const stderr = captureStderr(child);
      return { child, stderr, lines: lineReader(child, stderr) };
    });
    for (const run of runs) await run.lines.next(15_000); // "ready <pid>"
    const started = performance.now();
    for (const run of runs) run.child.stdin!.write('go\n');

    const results = await Promise.all(
      runs.map(async (run) => {
        const summary = JSON.parse(await run.lines.next(45_000)) as { writer: number; added: number; conflicts: number };
        const exit = await waitExit(run.child);
        expect(exit, run.stderr()).toEqual({ code: 0, signal: null });
        return summary;
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    const final = await store.read();
    const ids = new Set((final.services.svc?.processes ?? []).map((p) => p.id));
    const missing: string[] = [];
    for (let w = 0; w < WRITERS; w += 1) for (let i = 0; i < UPDATES; i += 1) if (!ids.has(markerId(w, i))) missing.push(markerId(w, i));

    // Each new revision holds exactly one more marker than the one before it.
    const history = (await store.history()).filter((entry) => entry.generation > initial.generation);
    const steps: string[] = [];
    for (const entry of history) {
      const count = (await store.revision(entry.generation)).services.svc?.processes.length ?? 0;
      if (count !== entry.generation - initial.generation) steps.push(`generation ${entry.generation} holds ${count} markers`);
    }
    const conflicts = results.reduce((sum, r) => sum + r.conflicts, 0);

    console.log(
      `concurrent writers: ${WRITERS} × ${UPDATES} updates in ${seconds.toFixed(2)} s; generation ${initial.generation} → ${final.generation}; ` +
        `${TOTAL - missing.length}/${TOTAL} markers present; ${history.length} new revisions; ${conflicts} conflicts retried ` +
        `(${results.map((r) => r.conflicts).join('/')})`,
    );
    expect(results.map((r) => r.added)).toEqual(Array(WRITERS).fill(UPDATES));
    expect(missing).toEqual([]);
    expect(ids.size).toBe(TOTAL);
    expect(final.generation).toBe(initial.generation + TOTAL);
    expect(history.map((entry) => entry.generation)).toEqual(Array.from({ length: TOTAL }, (_, k) => initial.generation + 1 + k));
    expect(history.filter((entry) => entry.broken !== undefined)).toEqual([]);
    expect(steps).toEqual([]);
  });
});
