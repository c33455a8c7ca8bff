import type { PolicyFileState } from '../protocol/status-body.js';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { describeBehind, isBehind, pathsOfPolicyFile, readHead, type Head, type StatePaths } from '../store/head.js';
import { PolicyHolder } from './policy-source.js';

export type { PolicyFileState } from '../protocol/status-body.js';

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
export class PolicyWatcher extends PolicyHolder {
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly fileName: string;
  private readonly paths: StatePaths;
  /** Since when policy.json has lagged behind which head, to report it once it lasts. */
  private behind: { key: string; since: number } | undefined;
  private recheck: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    private readonly options: PolicyWatcherOptions,
  ) {
    super(options);
    this.fileName = basename(path);
    this.paths = pathsOfPolicyFile(path);
  }

  override async start(): Promise<void> {
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

  /** Reads the file once (the head: policy.json rolled forward by the history). */
  protected async readOnce(): Promise<void> {
    let head: Head;
    try {
      head = await readHead(this.paths, () => usageError('policy_missing', `no policy file at ${this.path}: run \`switchyard init\``));
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    if (head.text !== this.lastText) {
      this.lastText = head.text;
      this.load(head.policy);
    }
    if (isBehind(head)) {
      this.noteBehind(head);
      return;
    }
    this.behind = undefined;
    // The same content back after a problem (a file deleted and restored, a publish that caught up) clears it.
    this.healthy();
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

  override stop(): void {
    this.watcher?.close();
    if (this.timer !== undefined) clearInterval(this.timer);
    clearTimeout(this.recheck);
  }
}
