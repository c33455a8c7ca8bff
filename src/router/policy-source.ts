import type { Policy } from '../core/policy-schema.js';
import type { Regression } from '../core/regression.js';
import { GenerationWatch } from './generation-watch.js';
import type { PolicyFileState } from './policy-watcher.js';

/**
 * Where the router's live policy comes from: the policy file (PolicyWatcher)
 * or Redis (RedisPolicySource). Either keeps the last good policy serving
 * when the next one cannot be had, and says so in `fileState()`.
 */
export interface PolicySource {
  /** Loads the policy once (when it can) and starts following changes. */
  start(): Promise<void>;
  current(): Policy | undefined;
  /** What is served and whether the source is currently failing (`fileBroken`, `error`). */
  fileState(): PolicyFileState;
  /** Looks for a new policy now; concurrent calls coalesce. */
  check(): Promise<void>;
  stop(): void;
  /** The store's head went back, or a generation changed under the same number, and nobody acknowledged it yet. */
  regression?(): Regression | undefined;
}

/** What the router wants to hear from a source: loads (for its log) and failures (reported once each). */
export interface PolicySourceHooks {
  onLoad?: (policy: Policy, previous: Policy | undefined) => void;
  onError?: (message: string) => void;
}

export type { PolicyFileState };

/**
 * What every source shares: the policy served and its state, checks that
 * coalesce (a check asked for while one runs makes exactly one more), a
 * valid policy swapped in whole, and each problem reported once rather
 * than on every check that sees it again. A source says how to read once.
 */
export abstract class PolicyHolder implements PolicySource {
  protected policy: Policy | undefined;
  protected state: PolicyFileState = { generation: null, fileBroken: false, error: null, loadedAt: null };
  private checking: Promise<void> | undefined;
  private again = false;
  private readonly watch = new GenerationWatch();

  regression(): Regression | undefined {
    return this.watch.regression();
  }

  constructor(private readonly hooks: PolicySourceHooks & { now?: () => Date }) {}

  abstract start(): Promise<void>;
  abstract stop(): void;
  /** One look at the source: calls load(), fail() or healthy(). */
  protected abstract readOnce(): Promise<void>;

  current(): Policy | undefined {
    return this.policy;
  }

  fileState(): PolicyFileState {
    return this.state;
  }

  check(): Promise<void> {
    if (this.checking !== undefined) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** The store's head is served even when it went back; the alarm says so until an operator acknowledges it. */
  protected load(next: Policy): void {
    const previous = this.policy;
    this.watch.note(next);
    this.policy = next;
    this.state = { generation: next.generation, fileBroken: false, error: null, loadedAt: (this.hooks.now?.() ?? new Date()).toISOString() };
    this.hooks.onLoad?.(next, previous);
  }

  /** The source answers again with what is already served. */
  protected healthy(): void {
    if (this.state.fileBroken) this.state = { ...this.state, fileBroken: false, error: null };
  }

  protected fail(message: string): void {
    const repeated = this.state.error === message;
    this.state = { ...this.state, fileBroken: true, error: message };
    if (!repeated) this.hooks.onError?.(message);
  }
}
