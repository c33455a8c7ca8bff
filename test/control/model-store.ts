import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflictError, failedError } from '../../src/core/errors.js';
import type { Policy } from '../../src/core/policy-schema.js';
import { writeFileAtomic } from '../../src/store/atomic-write.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import type { CommitOptions } from '../../src/store/store.js';

/** The drain leader's lease as the model keeps it: who holds it, and its fencing token. */
export interface ModelLease {
  holder: number;
  token: number;
}

/** What the next write does besides landing: nothing, its reply lost after it landed, lost before it landed, or held and landed later. */
export type WriteFault = 'lose-reply' | 'fail-before' | 'pending';

/** A fault for a write to come: `skip` writes go through first (a deploy's record is its second write). */
export type QueuedFault = WriteFault | 'none';

/**
 * The real file store, with the faults a store shows in production played
 * on demand:
 *
 * - a write whose reply is lost after it landed (a timeout, EIO after the link);
 * - a write that fails before it landed;
 * - a write held back and landing a little later (Redis paused for writes);
 * - a read that fails (the store unreachable for a moment);
 * - a head that goes back (a failover that lost commits, a restored backup);
 * - the Redis commit script's fencing check: a commit carrying an older
 *   lease than the newest is refused.
 *
 * `blocked()` lets a test freeze the writes of a command it has killed
 * (its timers would otherwise keep writing).
 */
export class FaultyStore extends PolicyStore {
  fenced = 0;
  readonly faults: QueuedFault[] = [];
  readFaults = 0;
  readonly counts = { lostReplies: 0, failedBefore: 0, pendingLanded: 0, pendingLost: 0, readFailures: 0, wentBack: 0 };
  blocked: () => boolean = () => false;
  /** Told of every revision that landed, at the instant it landed. */
  onCommit: (written: Policy) => void = () => undefined;

  constructor(stateDir: string, private readonly lease: ModelLease) {
    super(stateDir);
  }

  /** The head as the test itself reads it: no played fault, never blocked. */
  peek(): Promise<Policy> {
    return super.read();
  }

  /** Store calls under way, and a head going back: a restore is one instant, never half-done under a writer. */
  private active = 0;
  private restoring: Promise<void> | undefined;

  private async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.restoring !== undefined) await this.restoring;
    this.active += 1;
    try {
      return await fn();
    } finally {
      this.active -= 1;
    }
  }

  override async read(): Promise<Policy> {
    if (this.blocked()) return new Promise(() => undefined);
    return this.shared(() => this.readFaulty());
  }

  private async readFaulty(): Promise<Policy> {
    if (this.readFaults > 0) {
      this.readFaults -= 1;
      this.counts.readFailures += 1;
      throw failedError('store_unreachable', 'the store did not answer (played)');
    }
    return super.read();
  }

  override async write(next: Policy, expectedGeneration: number, opts?: CommitOptions): Promise<Policy> {
    if (this.blocked()) return new Promise(() => undefined);
    return this.shared(() => this.writeFaulty(next, expectedGeneration, opts));
  }

  private async writeFaulty(next: Policy, expectedGeneration: number, opts?: CommitOptions): Promise<Policy> {
    if (opts?.fence !== undefined && opts.fence < this.lease.token && ++this.fenced > 0) throw conflictError('lease_fenced', `lease ${opts.fence} is older than lease ${this.lease.token}`);
    const fault = this.faults.shift();
    if (fault === 'fail-before') {
      this.counts.failedBefore += 1;
      throw failedError('store_timeout', 'the store did not answer in time (played: nothing landed)');
    }
    if (fault === 'pending') {
      // Held like a write to a paused Redis: it lands a moment later, or is refused then if another won.
      setTimeout(() => {
        void this.shared(() => super.write(next, expectedGeneration, opts)).then((written) => {
          this.counts.pendingLanded += 1;
          this.onCommit(written);
        }, () => (this.counts.pendingLost += 1));
      }, Math.floor(Math.random() * 20));
      throw failedError('store_timeout', 'the store did not answer in time (played: the write is held and lands later)');
    }
    const written = await super.write(next, expectedGeneration, opts);
    this.onCommit(written);
    if (fault === 'lose-reply') {
      this.counts.lostReplies += 1;
      throw failedError('store_timeout', 'the store did not answer in time (played: the write landed)');
    }
    return written;
  }

  /** The head goes back `n` generations: the newest revisions are gone, as after a failover or a restored backup. */
  async goBack(n: number): Promise<void> {
    while (this.restoring !== undefined) await this.restoring;
    let done!: () => void;
    this.restoring = new Promise((resolve) => {
      done = resolve;
    });
    try {
      while (this.active > 0) await new Promise((r) => setTimeout(r, 1));
      await this.restore(n);
    } finally {
      this.restoring = undefined;
      done();
    }
  }

  private async restore(n: number): Promise<void> {
    const head = await super.read();
    const to = Math.max(0, head.generation - n);
    if (to === head.generation) return;
    const history = join(this.stateDir, 'history');
    for (const name of await readdir(history)) {
      const g = /^(\d+)\.json$/.exec(name);
      if (g !== null && Number(g[1]) > to) await rm(join(history, name), { force: true });
    }
    const kept = await this.revision(to);
    await writeFileAtomic(this.path, `${JSON.stringify(kept, null, 2)}\n`);
    this.counts.wentBack += 1;
  }
}
