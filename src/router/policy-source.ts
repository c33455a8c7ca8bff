import type { Policy } from '../core/policy-schema.js';
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
}

/** What the router wants to hear from a source: loads (for its log) and failures (reported once each). */
export interface PolicySourceHooks {
  onLoad?: (policy: Policy, previous: Policy | undefined) => void;
  onError?: (message: string) => void;
}

export type { PolicyFileState };
