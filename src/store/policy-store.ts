import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { conflictError, isSwitchyardError, usageError, type SwitchyardError } from '../core/errors.js';
import { checkPolicy, emptyPolicy, type Policy } from '../core/policy-schema.js';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-write.js';
import { checkGeneration, listHistory, readRevision, revisionPath, type HistoryEntry } from './history.js';
import { withLock, type LockOptions } from './lock.js';
import { describeProblems, readPolicyFile, serializePolicy } from './policy-file.js';
import type { CommitOptions, Store, UpdateOptions } from './store.js';

/**
 * The policy file and its history in one state folder. Every write happens
 * under the folder's lock, is refused unless the caller saw the latest
 * generation (compare-and-swap), lands in history first and then replaces
 * policy.json atomically, so a writer killed at any instant leaves a
 * readable, valid policy.json behind.
 */

export interface PolicyStoreOptions {
  /** Clock for updatedAt; tests pin it. */
  now?: () => Date;
  /** Lock waiting and stale-age settings (defaults: 10 s, 30 s). */
  lock?: LockOptions;
}


/** Temp files older than this are swept even if their pid looks alive (pid reuse). */
const TEMP_MAX_AGE_MS = 60_000;
/** History is swept of temp files this often (and on a store's first write), so a long history does not slow every write. */
const HISTORY_SWEEP_EVERY = 64;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export class PolicyStore implements Store {
  readonly stateDir: string;
  readonly path: string;
  readonly historyDir: string;
  private readonly now: () => Date;
  private readonly lockOptions: LockOptions | undefined;
  private sweptHistory = false;

  constructor(stateDir: string, opts: PolicyStoreOptions = {}) {
    // Absolute, so error messages name the file wherever the command ran.
    this.stateDir = resolve(stateDir);
    this.path = join(this.stateDir, 'policy.json');
    this.historyDir = join(this.stateDir, 'history');
    this.now = opts.now ?? (() => new Date());
    this.lockOptions = opts.lock;
  }

  get location(): string {
    return this.path;
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  async exists(): Promise<boolean> {
    return access(this.path).then(
      () => true,
      () => false,
    );
  }

  private missing(): SwitchyardError {
    return usageError('policy_missing', `No policy at ${this.path}: run \`switchyard init\` to create one, or point --config at the project that has it.`, {
      path: this.path,
    });
  }

  async read(): Promise<Policy> {
    return readPolicyFile(this.path, () => this.missing());
  }

  /** Creates the state folder and an empty policy (generation 0) unless a policy is already there. */
  async init(): Promise<{ created: boolean }> {
    await mkdir(this.historyDir, { recursive: true });
    if (await this.exists()) return { created: false };
    return withLock(
      this.stateDir,
      async () => {
        // Another init may have won the race while we waited for the lock.
        if (await this.exists()) return { created: false };
        const text = serializePolicy(emptyPolicy(this.now()));
        await writeFileAtomic(revisionPath(this.historyDir, 0), text);
        await writeFileAtomic(this.path, text);
        return { created: true };
      },
      this.lockOptions,
    );
  }

  /**
   * Writes `next` as generation expectedGeneration + 1, if the file is still
   * at expectedGeneration; otherwise throws a conflict (exit 4). Returns what
   * was written (checked, defaults filled in).
   */
  async write(next: Policy, expectedGeneration: number, _opts?: CommitOptions): Promise<Policy> {
    checkGeneration(expectedGeneration);
    const generation = expectedGeneration + 1;
    // Checked before taking the lock, so an invalid policy never holds others up.
    const check = checkPolicy({ ...next, generation, updatedAt: this.now().toISOString() });
    if (!check.ok) {
      throw usageError('policy_invalid', `Refusing to write an invalid policy to ${this.path}: ${describeProblems(check.problems)}.`, {
        path: this.path,
        problems: check.problems,
      });
    }
    const written = check.policy;
    const text = serializePolicy(written);
    if (!(await this.exists())) throw this.missing();

    await withLock(
      this.stateDir,
      async () => {
        const current = await this.read();
        if (current.generation !== expectedGeneration) {
          throw conflictError(
            'policy_conflict',
            `The policy changed under you (expected generation ${expectedGeneration}, found ${current.generation}): run the command again.`,
            { expected: expectedGeneration, found: current.generation },
          );
        }
        await mkdir(this.historyDir, { recursive: true });
        // History first: a writer killed between the two leaves an unpublished
        // revision that the next write of that generation simply replaces,
        // never a published policy missing from history.
        await writeFileAtomic(revisionPath(this.historyDir, generation), text);
        await writeFileAtomic(this.path, text);
        await this.sweep(generation);
      },
      this.lockOptions,
    );
    return written;
  }

  /**
   * Clears temp files of killed writers; runs under the lock, where no live
   * writer owns one. The small state folder every time; the history folder
   * (one file per revision) on this store's first write, which is when a
   * restarted writer cleans up after its killed predecessor, and then every
   * HISTORY_SWEEP_EVERY generations.
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
