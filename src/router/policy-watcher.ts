import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Policy } from '../core/policy-schema.js';
import { parsePolicyText } from '../store/policy-file.js';

export interface PolicyFileState {
  /** Generation being served, or null before any valid policy was loaded. */
  generation: number | null;
  /** Whether the file on disk is currently broken (the last good one keeps serving). */
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
 * Keeps the live policy in memory. fs.watch on the state folder fires for
 * temp files and may fire twice, so events are filtered by name and content
 * already loaded is skipped; a periodic check catches anything missed. A
 * valid new revision is swapped in whole; an invalid one is reported and the
 * last good policy keeps serving.
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

  constructor(
    readonly path: string,
    private readonly options: PolicyWatcherOptions,
  ) {
    this.fileName = basename(path);
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
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.lastText = undefined;
      this.fail(code === 'ENOENT' ? `no policy file at ${this.path}: run \`switchyard init\`` : `cannot read ${this.path}: ${(error as Error).message}`);
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    let next: Policy;
    try {
      next = parsePolicyText(this.path, text);
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    const previous = this.policy;
    this.policy = next;
    this.state = { generation: next.generation, fileBroken: false, error: null, loadedAt: (this.options.now?.() ?? new Date()).toISOString() };
    this.options.onLoad?.(next, previous);
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
  }
}
