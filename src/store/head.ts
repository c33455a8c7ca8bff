import { dirname, join } from 'node:path';
import type { SwitchyardError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { readRevisionText, revisionPath } from './history.js';
import { parsePolicyText } from './policy-file.js';
import { readStateFile, regularFileExists } from './state-files.js';

/**
 * Finding the head, the latest committed revision, the same way in the store
 * and in the router. A commit is the exclusive creation of
 * `history/<g>.json`; policy.json is a published copy that may lag behind
 * it (a writer killed between the two steps, or a slow writer whose rename
 * landed after a newer one). So the reader takes policy.json's generation g
 * and probes `history/<g+1>.json`, `<g+2>`… while they exist: the last one
 * found is the head. A policy.json newer than the history (hand-written) is
 * the head itself; one older than the history is never served.
 */

export interface StatePaths {
  stateDir: string;
  /** policy.json */
  policyPath: string;
  historyDir: string;
}

export function statePaths(stateDir: string): StatePaths {
  return { stateDir, policyPath: join(stateDir, 'policy.json'), historyDir: join(stateDir, 'history') };
}

/** The watcher knows policy.json's path; the history sits beside it. */
export function pathsOfPolicyFile(policyPath: string): StatePaths {
  const stateDir = dirname(policyPath);
  return { stateDir, policyPath, historyDir: join(stateDir, 'history') };
}

export interface Head {
  policy: Policy;
  /** The head's exact text, as committed. */
  text: string;
  generation: number;
  /** The file it was read from: policy.json, or the history revision policy.json lags behind. */
  source: string;
  /** policy.json's own generation; null when there is no policy.json (a killed `init`). */
  fileGeneration: number | null;
}

/** Whether policy.json lags behind the head (it is missing, or older than the history). */
export function isBehind(head: Head): boolean {
  return head.fileGeneration !== head.generation;
}

/** The newest generation in the unbroken run of revisions after `after` (or `after` itself when there is none). */
export async function probeHistory(historyDir: string, after: number): Promise<number> {
  let newest = after;
  while (await regularFileExists(revisionPath(historyDir, newest + 1), historyDir)) newest += 1;
  return newest;
}

/**
 * The head. `missing` builds the error for a state with neither policy.json
 * nor a history to roll forward from.
 */
export async function readHead(paths: StatePaths, missing: () => SwitchyardError): Promise<Head> {
  const fileText = await readStateFile(paths.policyPath, paths.stateDir);
  let fileGeneration: number | null = null;
  let after = -1;
  let fromFile: Head | undefined;
  if (fileText !== undefined) {
    const policy = parsePolicyText(paths.policyPath, fileText);
    fileGeneration = policy.generation;
    after = policy.generation;
    fromFile = { policy, text: fileText, generation: policy.generation, source: paths.policyPath, fileGeneration };
  }
  const newest = await probeHistory(paths.historyDir, after);
  if (newest === after) {
    if (fromFile === undefined) throw missing();
    return fromFile;
  }
  const { policy, text } = await readRevisionText(paths.historyDir, newest);
  return { policy, text, generation: newest, source: revisionPath(paths.historyDir, newest), fileGeneration };
}

/** One sentence for a policy.json that lags behind the head, for the router's log and /healthz. */
export function describeBehind(paths: StatePaths, head: Head): string {
  const file =
    head.fileGeneration === null ? `there is no ${paths.policyPath}` : `${paths.policyPath} holds generation ${head.fileGeneration}, older than the history`;
  return `${file}: serving generation ${head.generation} from ${head.source}. The next policy write republishes it; an older policy.json is never served.`;
}
