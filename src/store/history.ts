import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { parsePolicyText } from './policy-file.js';
import { explainFsError, readStateFile } from './state-files.js';

/**
 * The revision history: `history/<generation>.json`, one file per write,
 * for `policy history`, `policy diff` and `rollback`. Read-only here; the
 * store creates each revision once, exclusively, and never rewrites it.
 */

export interface HistoryEntry {
  generation: number;
  /** The revision's updatedAt, when the file says. */
  updatedAt: string | undefined;
  /**
   * Set when the file cannot be used as a revision (not JSON, not a valid
   * policy, or a generation that differs from its name): the reason, in one
   * sentence. Broken revisions are listed rather than hidden, so an operator
   * sees the gap; `revision()` on one throws.
   */
  broken?: string;
}

const REVISION_NAME = /^(\d+)\.json$/;
/** Files read at once while listing; bounded so a long history cannot exhaust file handles. */
const READ_BATCH = 32;

export function revisionPath(historyDir: string, generation: number): string {
  return join(historyDir, `${generation}.json`);
}

export function checkGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw usageError('invalid_generation', `${String(generation)} is not a policy generation: expected a whole number, 0 or more.`);
  }
}

async function describe(historyDir: string, generation: number): Promise<HistoryEntry> {
  const path = revisionPath(historyDir, generation);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { generation, updatedAt: undefined, broken: `cannot read it: ${(err as Error).message}` };
  }
  try {
    const policy = parsePolicyText(path, text);
    if (policy.generation !== generation) {
      return { generation, updatedAt: policy.updatedAt, broken: `it holds generation ${policy.generation}` };
    }
    return { generation, updatedAt: policy.updatedAt };
  } catch (err) {
    return { generation, updatedAt: undefined, broken: (err as Error).message };
  }
}

/** Every revision in the folder, oldest first; an empty list when there is no folder yet. */
export async function listHistory(historyDir: string): Promise<HistoryEntry[]> {
  let names: string[];
  try {
    names = await readdir(historyDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw explainFsError(err, historyDir, historyDir);
  }
  // Temp files (".<n>.json.<pid>.<hex>.tmp") and anything else do not match.
  const generations = names
    .map((name) => REVISION_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const entries: HistoryEntry[] = [];
  for (let i = 0; i < generations.length; i += READ_BATCH) {
    const batch = generations.slice(i, i + READ_BATCH);
    entries.push(...(await Promise.all(batch.map((g) => describe(historyDir, g)))));
  }
  return entries;
}

/** Reads one revision as text with its generation checked against its name. */
export async function readRevisionText(historyDir: string, generation: number): Promise<{ policy: Policy; text: string }> {
  const path = revisionPath(historyDir, generation);
  const text = await readStateFile(path, historyDir);
  if (text === undefined) {
    throw usageError('revision_missing', `No revision ${generation} at ${path}: \`switchyard policy history\` lists the revisions kept.`, { path, generation });
  }
  const policy = parsePolicyText(path, text);
  if (policy.generation !== generation) {
    throw usageError('policy_invalid', `${path} holds generation ${policy.generation}, not ${generation}: the history folder was edited by hand.`, {
      path,
      problems: [{ path: 'generation', message: `expected ${generation}` }],
    });
  }
  return { policy, text };
}

/** One revision, checked; a clear error when it is missing or broken. */
export async function readRevision(historyDir: string, generation: number): Promise<Policy> {
  checkGeneration(generation);
  return (await readRevisionText(historyDir, generation)).policy;
}
