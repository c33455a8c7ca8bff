import type { Policy } from '../core/policy-schema.js';
import type { SwitchyardError } from '../core/errors.js';
import type { HistoryEntry } from './history.js';

/**
 * The policy store: one interface, two backends (DESIGN.md). Files in the
 * state folder are the embedded default; Redis (`coordination.redis`) lets
 * several routers share one policy. Every backend keeps these promises:
 *
 * - `write` is a compare-and-set on `generation`: it lands as
 *   expectedGeneration + 1 or throws a conflict (exit 4); exactly one writer
 *   wins each generation, with no lock whose loss lets two writers in;
 * - every committed revision lands in the history once and is never rewritten;
 * - a writer killed at any instant leaves a store the next command uses
 *   without repair (rolled forward or back by the next reader or writer);
 * - a head with a generation lower than the history's is never served.
 */
export interface Store {
  /** Where the policy lives, for messages: a file path, or a Redis URL without its password. */
  readonly location: string;
  exists(): Promise<boolean>;
  /** Creates an empty policy (generation 0) unless one is there. */
  init(): Promise<{ created: boolean }>;
  /** The head: the latest committed revision. */
  read(): Promise<Policy>;
  /** Compare-and-set: writes `next` as expectedGeneration + 1, or throws a conflict. */
  write(next: Policy, expectedGeneration: number, opts?: CommitOptions): Promise<Policy>;
  /** Read, apply `fn`, write; on a conflict read again and re-apply (so `fn` must be pure). */
  update(fn: (current: Policy) => Policy | Promise<Policy>, opts?: UpdateOptions): Promise<Policy>;
  /** Every revision kept, oldest first. */
  history(): Promise<HistoryEntry[]>;
  revision(generation: number): Promise<Policy>;
  /** Releases connections (Redis); a no-op for files. */
  close(): Promise<void>;
}

export interface CommitOptions {
  /**
   * A fencing token (the drain leader's lease number, with several routers):
   * the commit is refused when a newer lease exists, so a deposed leader that
   * wakes up late can change nothing. The file store has no leases and
   * ignores it.
   */
  fence?: number;
}

export interface UpdateOptions extends CommitOptions {
  /** Conflicts retried before giving up (default 5). */
  retries?: number;
  /** Told about every conflict that is retried. */
  onRetry?: (conflict: SwitchyardError, attempt: number) => void;
}

export type { HistoryEntry };
