import { statSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { configText, mapFilesText, type HaproxySettings } from './config-text.js';
import type { Desired } from './desired.js';
import { mapFile, MAP_NAMES, type Layout } from './layout.js';
import type { HaproxyProcess } from './process.js';

/** A file's identity: replaced, rewritten or removed, it changes. */
function stampOf(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? 'missing' : `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** How long the state must stay the same before it is written: a rollout's burst of generations costs one write. */
const SETTLE_MS = 100;

/**
 * The config and map files in HAProxy's folder, kept in step with what
 * the applier has applied at run time. HAProxy reads them on every start
 * and reload, whoever makes it (SIGUSR2 to the master, a package upgrade,
 * config management): in step, such a reload comes back routing by the
 * current generation rather than by an old one. They are read back on
 * every pass (a few small files), so a file someone else edited is found
 * and written again. Each file is replaced whole (written beside it, then
 * renamed), the config only after `haproxy -c` has accepted it.
 */
export class ConfigFiles {
  /** Path → the text this router last wrote there, and the file's identity then (a file that changed since was changed by someone else). */
  private readonly written = new Map<string, { text: string; stamp: string }>();
  /** The latest state asked for and not yet being written: a burst of generations is written once. */
  private pending: { desired: Desired; layout: Layout; key: string | undefined } | undefined;
  /** The key of the state the files hold (undefined: unknown, write again). */
  private heldKey: string | undefined;
  private writing: Promise<void> | undefined;
  private settleMs = SETTLE_MS;
  /** Why the last write failed (null: the files hold what was asked for last). */
  failure: string | null = null;

  constructor(
    private readonly haproxy: HaproxyProcess,
    private readonly settings: HaproxySettings,
  ) {}

  /**
   * Queues the files for a state and resolves once the disk holds it (or
   * a state queued after it); rejects when that write failed. A write
   * takes a `haproxy -c` of the config (tens of ms of CPU), so the applier
   * routes by a new generation without waiting for it, and a burst of
   * generations is written once, after `settleMs` without a newer one.
   * A state with the `key` of the one the files hold already is skipped.
   */
  write(desired: Desired, layout: Layout, opts: { settleMs?: number; key?: string } = {}): Promise<void> {
    if (opts.key !== undefined && opts.key === this.heldKey && this.writing === undefined) return Promise.resolve();
    const settleMs = opts.settleMs ?? SETTLE_MS;
    this.pending = { desired, layout, key: opts.key };
    this.settleMs = settleMs;
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
    return this.writing.then(() => {
      if (this.failure !== null) throw new Error(this.failure);
    });
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined) {
      let seen: typeof this.pending;
      do {
        seen = this.pending;
        if (this.settleMs > 0) await new Promise((r) => setTimeout(r, this.settleMs));
      } while (this.pending !== seen);
      const { desired, layout, key } = this.pending!;
      this.pending = undefined;
      try {
        await this.writeNow(desired, layout);
        this.failure = null;
        this.heldKey = key;
      } catch (error) {
        this.failure = (error as Error).message;
        this.heldKey = undefined;
      }
    }
  }

  /**
   * Files someone else changed since this router wrote them, none while a
   * write of ours is under way. Every pass asks, so it looks at each file's
   * inode, size and mtime (a few small syscalls) rather than reading it.
   */
  edited(): string[] {
    if (this.writing !== undefined) return [];
    const changed = [...this.written].filter(([path, mine]) => stampOf(path) !== mine.stamp).map(([path]) => basename(path));
    if (changed.length > 0) this.heldKey = undefined;
    return changed;
  }

  /**
   * Writes what differs on disk: the config first, so its servers exist
   * before the maps that point at them (a map file is created empty when
   * missing, since `haproxy -c` loads every map the config names).
   */
  private async writeNow(desired: Desired, layout: Layout): Promise<void> {
    const { dir } = this.settings;
    const maps = mapFilesText(desired, layout);
    const wanted: Array<[string, string]> = [[this.haproxy.configPath, configText(this.settings, desired, layout)], ...MAP_NAMES.map((name): [string, string] => [mapFile(dir, name), maps[name]])];
    const onDisk = new Map<string, string | undefined>();
    for (const [path] of wanted) {
      const text = await readFile(path, 'utf8').catch(() => undefined);
      onDisk.set(path, text);
      if (text === undefined && path !== this.haproxy.configPath) await this.replace(path, '');
    }
    for (const [path, text] of wanted) {
      if (onDisk.get(path) === text) this.written.set(path, { text, stamp: stampOf(path) });
      else await this.replace(path, text, path === this.haproxy.configPath ? (next) => this.haproxy.validate(next) : undefined);
    }
  }

  private async replace(path: string, text: string, check?: (path: string) => Promise<void>): Promise<void> {
    const next = `${path}.${process.pid}.next`;
    await writeFile(next, text);
    try {
      await check?.(next);
    } catch (error) {
      await unlink(next).catch(() => undefined);
      throw error;
    }
    await rename(next, path);
    this.written.set(path, { text, stamp: stampOf(path) });
  }
}
