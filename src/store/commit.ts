import { createFileExclusive, writeFileAtomic } from './atomic-write.js';
import { probeHistory, type Head, type StatePaths } from './head.js';
import { readRevisionText, revisionPath } from './history.js';
import { ensureFolder, explainFsError, regularFileExists } from './state-files.js';

/**
 * The steps of a commit with no lock: the exclusive creation of
 * `history/<g>.json` is the commit and the only point of exclusion (link(2)
 * never overwrites, so exactly one writer gets each generation); publishing
 * policy.json afterwards is a cache update that any reader can redo from
 * the history (see head.ts).
 */

/** Republishing rounds after a publish, when other writers keep committing meanwhile (each of them publishes too). */
const PUBLISH_ROUNDS = 16;

/**
 * Commits `text` as revision `generation`: 'committed', or 'taken' when
 * another writer already committed that generation. Durable on return.
 */
export async function commitRevision(paths: StatePaths, generation: number, text: string): Promise<'committed' | 'taken'> {
  await ensureFolder(paths.historyDir);
  const path = revisionPath(paths.historyDir, generation);
  try {
    return (await createFileExclusive(path, text)) === 'created' ? 'committed' : 'taken';
  } catch (err) {
    // Our temp file was swept (this writer stalled past the sweep age) or the
    // history folder vanished: nothing was committed, so a retry is safe.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'taken';
    throw explainFsError(err, path, paths.historyDir);
  }
}

/**
 * A head that is policy.json itself, with no revision of its generation in
 * the history (a hand-written file), is first recorded there, so every
 * generation a writer builds on is kept. Created exclusively: if another
 * writer or an older commit holds that name, it is left as it is.
 */
export async function adoptIntoHistory(paths: StatePaths, head: Head): Promise<void> {
  if (head.source !== paths.policyPath) return;
  const path = revisionPath(paths.historyDir, head.generation);
  if (await regularFileExists(path, paths.historyDir)) return;
  await commitRevision(paths, head.generation, head.text);
}

/**
 * Publishes revision `generation` as policy.json. A slower writer's rename
 * can land after a newer one and put policy.json back; so after each rename
 * the history is probed again, and the newest revision found is published
 * in turn. The last writer to rename always probes after its rename, which
 * is why policy.json cannot stay behind once writers stop.
 */
export async function publish(paths: StatePaths, generation: number, text: string): Promise<void> {
  let current = { generation, text };
  for (let round = 0; round < PUBLISH_ROUNDS; round += 1) {
    await writeFileAtomic(paths.policyPath, current.text);
    const newest = await probeHistory(paths.historyDir, current.generation);
    if (newest === current.generation) return;
    current = { generation: newest, text: (await readRevisionText(paths.historyDir, newest)).text };
  }
}
