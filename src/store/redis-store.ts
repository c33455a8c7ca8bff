import { conflictError, failedError, isSwitchyardError, usageError } from '../core/errors.js';
import { checkPolicy, emptyPolicy, type Policy } from '../core/policy-schema.js';
import { checkGeneration, type HistoryEntry } from './history.js';
import { RedisClient, type RedisClientOptions } from '../coordination/redis-client.js';
import { COMMIT_SCRIPT, redisKeys, type RedisKeys } from '../coordination/keys.js';
import { IMPORT_HEAD_SCRIPT, IMPORT_REVISIONS_SCRIPT } from '../coordination/policy-import.js';
import { retryUpdate } from './retry-update.js';
import { describeProblems, parsePolicyText, serializePolicy } from './policy-file.js';
import type { CommitOptions, Store, UpdateOptions } from './store.js';

/**
 * The policy and its history in Redis (coordination.redis), for several
 * routers sharing one policy. A commit is one Lua script (coordination/policy-keys.ts):
 * compare-and-set on the head generation, the revision written once, the
 * head moved and the new generation published, all or nothing. A revision
 * is never rewritten, so a reader that sees head g can read revision g at
 * any later time and get the same text.
 */

/** A revision's exact text, for moving a history in. */
export interface RevisionText {
  generation: number;
  text: string;
}

/** How an import step went (coordination/policy-import.ts): ok, a head exists already, or a key holds other text. */
export type ImportReply = { status: 'ok' } | { status: 'exists'; head: number } | { status: 'differs'; generation: number };

function importReply([status, value]: [string, number], generationOf: (value: number) => number): ImportReply {
  if (status === 'exists') return { status, head: Number(value) };
  if (status === 'differs') return { status, generation: generationOf(Number(value)) };
  return { status: 'ok' };
}

export interface RedisStoreOptions extends RedisClientOptions {
  url: string;
  prefix: string;
  now?: () => Date;
}

/** Revisions fetched per MGET while listing the history. */
const HISTORY_BATCH = 256;

export class RedisStore implements Store {
  readonly keys: RedisKeys;
  readonly location: string;
  private readonly redis: RedisClient;
  private readonly now: () => Date;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = new RedisClient(options.url, options);
    this.keys = redisKeys(options.prefix);
    this.location = `${this.redis.shownUrl} (keys ${options.prefix}:*)`;
    this.now = options.now ?? (() => new Date());
  }

  private missing() {
    return usageError('policy_missing', `No policy in Redis at ${this.location}: run \`switchyard init\` to create one, or check coordination.prefix.`, {
      location: this.location,
    });
  }

  /** The live generation, or undefined when there is no policy yet. */
  async headGeneration(): Promise<number | undefined> {
    const raw = await this.redis.run('reading the policy', (c) => c.get(this.keys.head));
    return raw === null ? undefined : Number(raw);
  }

  async exists(): Promise<boolean> {
    return (await this.headGeneration()) !== undefined;
  }

  async read(): Promise<Policy> {
    const generation = await this.headGeneration();
    if (generation === undefined) throw this.missing();
    return this.revision(generation);
  }

  async revision(generation: number): Promise<Policy> {
    return this.parseRevision(generation, await this.revisionText(generation));
  }

  /** A revision's exact text, as committed. */
  async revisionText(generation: number): Promise<string> {
    checkGeneration(generation);
    const text = await this.redis.run('reading the policy', (c) => c.get(this.keys.revision(generation)));
    if (text === null) {
      throw usageError('revision_missing', `No revision ${generation} in Redis at ${this.location}: \`switchyard policy history\` lists the revisions kept.`, { generation });
    }
    return text;
  }

  parseRevision(generation: number, text: string): Policy {
    const policy = parsePolicyText(`revision ${generation} in ${this.location}`, text);
    if (policy.generation !== generation) {
      throw failedError('policy_invalid', `Revision ${generation} in ${this.location} holds generation ${policy.generation}: the keys were changed by hand.`);
    }
    return policy;
  }

  async init(): Promise<{ created: boolean }> {
    if (await this.exists()) return { created: false };
    try {
      await this.commit(serializePolicy(emptyPolicy(this.now())), -1, undefined);
      return { created: true };
    } catch (error) {
      // Another init won the race: there is a policy, which is all init promises.
      if (isSwitchyardError(error) && error.code === 'policy_conflict') return { created: false };
      throw error;
    }
  }

  async write(next: Policy, expectedGeneration: number, opts: CommitOptions = {}): Promise<Policy> {
    checkGeneration(expectedGeneration);
    const check = checkPolicy({ ...next, generation: expectedGeneration + 1, updatedAt: this.now().toISOString() });
    if (!check.ok) {
      throw usageError('policy_invalid', `Refusing to write an invalid policy to ${this.location}: ${describeProblems(check.problems)}.`, { problems: check.problems });
    }
    await this.commit(serializePolicy(check.policy), expectedGeneration, opts.fence);
    return check.policy;
  }

  private async commit(text: string, expected: number, fence: number | undefined): Promise<number> {
    const generation = expected + 1;
    const reply = (await this.redis.run(
      'the commit',
      (c) => c.eval(COMMIT_SCRIPT, 3, this.keys.head, this.keys.revision(generation), this.keys.fence, String(expected), text, fence === undefined ? '' : String(fence), this.keys.channel),
      true,
    )) as [string, number];
    const [status, value] = reply;
    if (status === 'ok') return Number(value);
    if (status === 'conflict') {
      if (Number(value) === -1) throw this.missing();
      throw conflictError('policy_conflict', `The policy changed under you (expected generation ${expected}, found ${value}): run the command again.`, {
        expected,
        found: Number(value),
      });
    }
    if (status === 'fenced') {
      throw conflictError('lease_fenced', `Refused a commit under lease ${fence}: lease ${value} is newer, so this router is no longer the leader.`, { fence, newest: Number(value) });
    }
    throw failedError('revision_taken', `Revision ${generation} already exists in ${this.location} while the head is ${value}: the keys were changed by hand; nothing was written.`);
  }

  update(fn: (current: Policy) => Policy | Promise<Policy>, opts: UpdateOptions = {}): Promise<Policy> {
    return retryUpdate(this, fn, opts);
  }

  async history(): Promise<HistoryEntry[]> {
    const head = await this.headGeneration();
    if (head === undefined) return [];
    const entries: HistoryEntry[] = [];
    for (let from = 0; from <= head; from += HISTORY_BATCH) {
      const generations = Array.from({ length: Math.min(HISTORY_BATCH, head - from + 1) }, (_, i) => from + i);
      const texts = await this.redis.run('listing the history', (c) => c.mget(...generations.map((g) => this.keys.revision(g))));
      generations.forEach((generation, i) => entries.push(this.describe(generation, texts[i] ?? null)));
    }
    return entries;
  }

  private describe(generation: number, text: string | null): HistoryEntry {
    if (text === null) return { generation, updatedAt: undefined, broken: 'the revision is missing from Redis' };
    try {
      return { generation, updatedAt: this.parseRevision(generation, text).updatedAt };
    } catch (error) {
      return { generation, updatedAt: undefined, broken: (error as Error).message };
    }
  }

  /**
   * Writes revisions where absent while there is no head (invisible to
   * readers until importHead). Nothing of a batch is written when a key of
   * it holds other text.
   */
  async importRevisions(revisions: readonly RevisionText[]): Promise<ImportReply> {
    if (revisions.length === 0) return { status: 'ok' };
    const keys = [this.keys.head, ...revisions.map((r) => this.keys.revision(r.generation))];
    const reply = await this.redis.run('importing the history', (c) => c.eval(IMPORT_REVISIONS_SCRIPT, keys.length, ...keys, ...revisions.map((r) => r.text)), true);
    return importReply(reply as [string, number], (index) => revisions[index - 1]!.generation);
  }

  /** Sets the head to an imported revision, with that revision, if there is still no head. */
  async importHead(head: RevisionText): Promise<ImportReply> {
    const reply = await this.redis.run('importing the policy', (c) => c.eval(IMPORT_HEAD_SCRIPT, 2, this.keys.head, this.keys.revision(head.generation), String(head.generation), head.text, this.keys.channel), true);
    return importReply(reply as [string, number], (generation) => generation);
  }

  async close(): Promise<void> {
    await this.redis.close();
  }
}
