import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { describeBehind, isBehind, pathsOfPolicyFile, readHead, type Head, type StatePaths } from '../store/head.js';

export interface PolicyFileState {
  /** Generation being served, or null before any valid policy was loaded. */
  generation: number | null;
  /**
   * Whether the file on disk is currently broken (the last good one keeps
   * serving), or lags behind the history (the history's head is served).
   */
  fileBroken: boolean;
  error: string | null;
  loadedAt: string | null;
}

export interface PolicyWatcherOptions {
  /** The slow periodic check, in case a file-system event is missed. */
  pollMs: number;
  onLoad?: (policy: Policy, previous: Policy | undefined) => void;
  onError?: (message: string) => void;
  now?: () => Date;
}

/**
 * A policy.json that lags behind the history is reported only once it has
 * stayed behind this long: a writer between its commit and its publish
 * leaves it behind for a few milliseconds, which is no news.
 */
const BEHIND_GRACE_MS = 1_000;

/**
 * Keeps the live policy in memory. fs.watch on the state folder fires for
 * temp files and may fire twice, so events are filtered by name and content
 * already loaded is skipped; a periodic check catches anything missed. The
 * head is found as the store finds it (store/head.ts): policy.json, rolled
 * forward through the history when it lags behind, so a commit whose
 * publish never happened is served, and a policy.json older than the
 * history never is. A valid new revision is swapped in whole; an invalid
 * one is reported and the last good policy keeps serving.
 */
export class PolicyWatcher {
  private policy: Policy | undefined;
  private lastText: string | undefined;
  private state: PolicyFileState = { generation: null, fileBroken: false, error: null, loadedAt: null };
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private readonly fileName: string;
  private readonly paths: StatePaths;
  /** Since when policy.json has lagged behind which head, to report it once it lasts. */
  private behind: { key: string; since: number } | undefined;
  private recheck: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    private readonly options: PolicyWatcherOptions,
  ) {
    this.fileName = basename(path);
    this.paths = pathsOfPolicyFile(path);
  }

  async start(): Promise<void> {
    await this.check();
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
        if (name === null || name === this.fileName) void this.check();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // The folder may not exist yet: the periodic check still finds the file.
    }
    this.timer = setInterval(() => void this.check(), this.options.pollMs);
    this.timer.unref();
  }

  current(): Policy | undefined {
    return this.policy;
  }

  fileState(): PolicyFileState {
    return this.state;
  }

  /** Reads the file once; concurrent calls coalesce into one more read. */
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

  private async readOnce(): Promise<void> {
    let head: Head;
    try {
      head = await readHead(this.paths, () => usageError('policy_missing', `no policy file at ${this.path}: run \`switchyard init\``));
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    if (head.text !== this.lastText) {
      const previous = this.policy;
      this.policy = head.policy;
      this.lastText = head.text;
      this.state = { generation: head.generation, fileBroken: false, error: null, loadedAt: (this.options.now?.() ?? new Date()).toISOString() };
      this.options.onLoad?.(head.policy, previous);
    }
    if (isBehind(head)) {
      this.noteBehind(head);
      return;
    }
    this.behind = undefined;
    // The same content back after a problem (a file deleted and restored, a publish that caught up) clears it.
    if (this.state.fileBroken) this.state = { ...this.state, fileBroken: false, error: null };
  }

  /** Reports a policy.json left behind the history once it has stayed so for BEHIND_GRACE_MS, rechecking by itself. */
  private noteBehind(head: Head): void {
    const key = `${head.fileGeneration}:${head.generation}`;
    const now = Date.now();
    if (this.behind?.key !== key) {
      this.behind = { key, since: now };
      clearTimeout(this.recheck);
      this.recheck = setTimeout(() => void this.check(), BEHIND_GRACE_MS + 50);
      this.recheck.unref();
      return;
    }
    if (now - this.behind.since >= BEHIND_GRACE_MS) this.fail(describeBehind(this.paths, head));
  }

  /** Reports a problem once, not on every periodic check that sees it again. */
  private fail(message: string): void {
    const repeated = this.state.error === message;
    this.state = { ...this.state, fileBroken: true, error: message };
    if (!repeated) this.options.onError?.(message);
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer !== undefined) clearInterval(this.timer);
    clearTimeout(this.recheck);
  }
}
