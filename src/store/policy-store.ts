import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { conflictError, isSwitchyardError, usageError, type SwitchyardError } from '../core/errors.js';
import { checkPolicy, emptyPolicy, type Policy } from '../core/policy-schema.js';
import { removeStaleTempFiles } from './atomic-write.js';
import { adoptIntoHistory, commitRevision, publish } from './commit.js';
import { isBehind, readHead, statePaths, type Head, type StatePaths } from './head.js';
import { checkGeneration, listHistory, readRevision, type HistoryEntry } from './history.js';
import { describeProblems, serializePolicy } from './policy-file.js';
import { ensureFolder, explainFsError } from './state-files.js';
import type { CommitOptions, Store, UpdateOptions } from './store.js';

/**
 * The policy file and its history in one state folder, with no lock. A
 * write of generation g+1 by a writer that read head g is committed by
 * creating `history/<g+1>.json` exclusively (link(2) never overwrites: the
 * loser gets a conflict, exit 4); only then is policy.json replaced
 * atomically. Readers find the head by probing the history past
 * policy.json's generation (head.ts), so a writer killed between the two
 * steps is rolled forward by the next reader, and a policy.json older than
 * the history is never served. History files are written once and never
 * rewritten.
 */

export interface PolicyStoreOptions {
  /** Clock for updatedAt; tests pin it. */
  now?: () => Date;
}

/** Temp files older than this are swept even if their pid looks alive (pid reuse, other hosts). */
const TEMP_MAX_AGE_MS = 60_000;
/** History is swept of temp files this often (and on a store's first write), so a long history does not slow every write. */
const HISTORY_SWEEP_EVERY = 64;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export class PolicyStore implements Store {
  readonly stateDir: string;
  readonly path: string;
  readonly historyDir: string;
  private readonly paths: StatePaths;
  private readonly now: () => Date;
  private sweptHistory = false;

  constructor(stateDir: string, opts: PolicyStoreOptions = {}) {
    // Absolute, so error messages name the file wherever the command ran.
    this.stateDir = resolve(stateDir);
    this.paths = statePaths(this.stateDir);
    this.path = this.paths.policyPath;
    this.historyDir = this.paths.historyDir;
    this.now = opts.now ?? (() => new Date());
  }

  get location(): string {
    return this.path;
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /** Whether anything is at policy.json (a file of the wrong type is reported by read, not hidden here). */
  async exists(): Promise<boolean> {
    try {
      await lstat(this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw explainFsError(err, this.path, this.stateDir);
    }
  }

  private missing(): SwitchyardError {
    return usageError('policy_missing', `No policy at ${this.path}: run \`switchyard init\` to create one, or point --config at the project that has it.`, {
      path: this.path,
    });
  }

  private head(): Promise<Head> {
    return readHead(this.paths, () => this.missing());
  }

  /** The head: policy.json, rolled forward past it through the history when it lags behind. */
  async read(): Promise<Policy> {
    return (await this.head()).policy;
  }

  /**
   * Creates the state folder and an empty policy (generation 0) unless a
   * policy is already there. Generation 0 is committed exclusively like any
   * other, so of two inits one creates it; an init killed before publishing
   * is finished by the next one (or served from the history meanwhile).
   */
  async init(): Promise<{ created: boolean }> {
    await ensureFolder(this.historyDir);
    if (await this.exists()) return { created: false };
    const outcome = await commitRevision(this.paths, 0, serializePolicy(emptyPolicy(this.now())));
    const head = await this.head();
    if (isBehind(head)) await this.publishQuietly(head.generation, head.text);
    return { created: outcome === 'committed' };
  }

  /**
   * Writes `next` as generation expectedGeneration + 1, if the head is still
   * at expectedGeneration; otherwise throws a conflict (exit 4). Returns what
   * was written (checked, defaults filled in).
   */
  async write(next: Policy, expectedGeneration: number, _opts?: CommitOptions): Promise<Policy> {
    checkGeneration(expectedGeneration);
    const generation = expectedGeneration + 1;
    const check = checkPolicy({ ...next, generation, updatedAt: this.now().toISOString() });
    if (!check.ok) {
      throw usageError('policy_invalid', `Refusing to write an invalid policy to ${this.path}: ${describeProblems(check.problems)}.`, {
        path: this.path,
        problems: check.problems,
      });
    }
    const written = check.policy;
    const text = serializePolicy(written);

    const head = await this.head();
    if (head.generation !== expectedGeneration) {
      // Someone committed since the caller read; if their publish has not landed, finish it for them.
      if (isBehind(head)) await this.publishQuietly(head.generation, head.text);
      throw this.conflict(expectedGeneration, head.generation);
    }
    await adoptIntoHistory(this.paths, head);
    // The commit: exactly one writer creates this revision.
    if ((await commitRevision(this.paths, generation, text)) === 'taken') throw this.conflict(expectedGeneration, generation);
    await this.publishQuietly(generation, text);
    await this.sweep(generation);
    return written;
  }

  private conflict(expected: number, found: number): SwitchyardError {
    return conflictError('policy_conflict', `The policy changed under you (expected generation ${expected}, found ${found}): run the command again.`, {
      expected,
      found,
    });
  }

  /**
   * Publishes a committed revision as policy.json. The commit already
   * happened and every reader rolls forward to it, so a failed publish
   * (the disk filled up after the commit, say) must not make the caller
   * believe the write failed and apply it again: the next write or init
   * publishes again, and the router reports a policy.json left behind.
   */
  private async publishQuietly(generation: number, text: string): Promise<void> {
    await publish(this.paths, generation, text).catch(() => undefined);
  }

  /**
   * Clears temp files of killed writers (a live writer's are kept: see
   * removeStaleTempFiles). The small state folder every time; the history
   * folder (one file per revision) on this store's first write, which is
   * when a restarted writer cleans up after its killed predecessor, and then
   * every HISTORY_SWEEP_EVERY generations.
   */
  private async sweep(generation: number): Promise<void> {
    await removeStaleTempFiles(this.stateDir, TEMP_MAX_AGE_MS);
    if (!this.sweptHistory || generation % HISTORY_SWEEP_EVERY === 0) {
      this.sweptHistory = true;
      await removeStaleTempFiles(this.historyDir, TEMP_MAX_AGE_MS);
    }
  }

  /**
   * Read, apply `fn`, write with compare-and-swap; on a conflict, read again
   * and re-apply. `fn` may therefore run more than once and should only
   * compute the next policy from the one it is given.
   */
  async update(fn: (current: Policy) => Policy | Promise<Policy>, opts: UpdateOptions = {}): Promise<Policy> {
    const retries = opts.retries ?? 5;
    for (let attempt = 0; ; attempt += 1) {
      const current = await this.read();
      // A copy, so an fn that mutates its argument cannot corrupt a retry.
      const next = await fn(structuredClone(current));
      try {
        return await this.write(next, current.generation);
      } catch (err) {
        if (!isSwitchyardError(err) || err.code !== 'policy_conflict' || attempt >= retries) throw err;
        opts.onRetry?.(err, attempt + 1);
        // Full jitter, growing to at most 50 ms, so colliding writers spread out.
        await sleep(Math.random() * Math.min(50, 5 * 2 ** attempt));
      }
    }
  }

  /** Every revision kept, oldest first; unusable files are listed with `broken` set (see HistoryEntry). */
  async history(): Promise<HistoryEntry[]> {
    return listHistory(this.historyDir);
  }

  async revision(generation: number): Promise<Policy> {
    return readRevision(this.historyDir, generation);
  }
}

export type { HistoryEntry, UpdateOptions };
