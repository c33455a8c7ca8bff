import { isDeepStrictEqual } from 'node:util';
import { failedError, isSwitchyardError, usageError } from '../core/errors.js';
import { describeChange, diffPolicies } from '../core/policy-diff.js';
import type { Policy } from '../core/policy-schema.js';
import { readHead, statePaths, type Head } from './head.js';
import { listHistory, readRevisionText } from './history.js';
import type { RedisStore, RevisionText } from './redis-store.js';

/**
 * A file policy moved into Redis (`switchyard init` on a config that names
 * Redis): the head and every revision of its history, same generations,
 * same text, through the import steps of coordination/policy-import.ts
 * (revisions first, the head last and atomically). Nothing here touches a
 * process: the routers that follow Redis serve what was moved, and the
 * files stay as they were, as a record.
 */

export interface SkippedRevision {
  generation: number;
  reason: string;
}

export type MoveOutcome =
  | { kind: 'no_file_policy' }
  | { kind: 'moved'; generation: number; revisions: number; skipped: SkippedRevision[] }
  /** Redis holds this very policy already (a second init, or a racing one that won). */
  | { kind: 'same'; generation: number }
  /** Moved earlier, and Redis has gone on since: it holds the files' head at its generation. */
  | { kind: 'moved_before'; generation: number; redisGeneration: number };

/** Revisions per import step: bounds the script's run time and its arguments' size. */
const BATCH = 64;
/** Differences named in a refusal; the rest are counted. */
const SHOWN_CHANGES = 5;

/** The same policy: the same generation, services and processes (updatedAt aside: two inits each stamp their own empty policy). */
function samePolicy(a: Policy, b: Policy): boolean {
  return a.generation === b.generation && isDeepStrictEqual({ ...a, updatedAt: '' }, { ...b, updatedAt: '' });
}

async function readFileHead(stateDir: string): Promise<Head | undefined> {
  const none = usageError('policy_missing', 'no file policy');
  try {
    return await readHead(statePaths(stateDir), () => none);
  } catch (error) {
    if (error === none) return undefined;
    throw error;
  }
}

/** The revision Redis holds at `generation`, or undefined when it holds none there. */
async function redisRevision(redis: RedisStore, generation: number): Promise<Policy | undefined> {
  try {
    return await redis.revision(generation);
  } catch (error) {
    if (isSwitchyardError(error) && (error.code === 'revision_missing' || error.code === 'policy_invalid')) return undefined;
    throw error;
  }
}

function keyPattern(redis: RedisStore): string {
  return redis.keys.head.replace(/head$/, '*');
}

function differs(redis: RedisStore, held: Policy, head: Head) {
  const changes = diffPolicies(head.policy, held).map(describeChange);
  const shown = changes.slice(0, SHOWN_CHANGES).join('; ') + (changes.length > SHOWN_CHANGES ? `; and ${changes.length - SHOWN_CHANGES} more` : '');
  return usageError(
    'redis_policy_differs',
    `Redis at ${redis.location} already holds another policy (generation ${held.generation}) than ${head.source} (generation ${head.generation})${shown === '' ? '' : `; in Redis: ${shown}`}. Nothing was moved. To keep Redis's policy, leave it: the files are not read while coordination.redis is set. To replace it with the files', delete its keys (\`redis-cli --scan --pattern '${keyPattern(redis)}' | xargs redis-cli del\`, with the URL's host, port and database) and run \`switchyard init --yes\` again. To stay on the files, remove coordination.redis from the config.`,
    { redisGeneration: held.generation, fileGeneration: head.generation },
  );
}

/** What Redis holds against the files' head: nothing yet (undefined), the same, the same moved on, or another policy (thrown). */
async function compare(redis: RedisStore, head: Head): Promise<MoveOutcome | undefined> {
  const redisGeneration = await redis.headGeneration();
  if (redisGeneration === undefined) return undefined;
  const held = await redis.revision(redisGeneration);
  if (samePolicy(held, head.policy)) return { kind: 'same', generation: redisGeneration };
  const then = redisGeneration > head.generation ? await redisRevision(redis, head.generation) : undefined;
  if (then !== undefined && samePolicy(then, head.policy)) return { kind: 'moved_before', generation: head.generation, redisGeneration };
  throw differs(redis, held, head);
}

/** After an import step found a head: another init won the race, and Redis decides. */
async function settled(redis: RedisStore, head: Head): Promise<MoveOutcome> {
  const outcome = await compare(redis, head);
  if (outcome === undefined) throw failedError('redis_changed', `A policy head appeared in Redis at ${redis.location} and was gone again while the policy was moved: run \`switchyard init --yes\` again.`);
  return outcome;
}

function leftover(redis: RedisStore, generation: number, stateDir: string) {
  return failedError(
    'redis_leftover_keys',
    `Redis at ${redis.location} has no policy, but holds a revision ${generation} with another text than ${stateDir}/history/${generation}.json: keys left by another state under the same prefix, or by a move of other files that was cut short. No head was written, so nothing serves from them. Delete them (\`redis-cli --scan --pattern '${keyPattern(redis)}' | xargs redis-cli del\`) or give this state a coordination.prefix of its own, then run \`switchyard init --yes\` again.`,
    { generation },
  );
}

/** Moves the file policy of `stateDir`, with its history, into `redis`; see MoveOutcome. */
export async function movePolicyToRedis(stateDir: string, redis: RedisStore): Promise<MoveOutcome> {
  const head = await readFileHead(stateDir);
  if (head === undefined) return { kind: 'no_file_policy' };
  const already = await compare(redis, head);
  if (already !== undefined) return already;

  const { historyDir } = statePaths(stateDir);
  const skipped: SkippedRevision[] = [];
  const usable: number[] = [];
  let headText = head.text;
  for (const entry of await listHistory(historyDir)) {
    if (entry.broken !== undefined) skipped.push({ generation: entry.generation, reason: entry.broken });
    else if (entry.generation > head.generation) skipped.push({ generation: entry.generation, reason: `after a gap in the history, past the head ${head.generation}: never served` });
    else if (entry.generation === head.generation) headText = (await readRevisionText(historyDir, entry.generation)).text;
    else usable.push(entry.generation);
  }
  for (let i = 0; i < usable.length; i += BATCH) {
    const batch: RevisionText[] = await Promise.all(usable.slice(i, i + BATCH).map(async (generation) => ({ generation, text: (await readRevisionText(historyDir, generation)).text })));
    const reply = await redis.importRevisions(batch);
    if (reply.status === 'exists') return settled(redis, head);
    if (reply.status === 'differs') throw leftover(redis, reply.generation, stateDir);
  }
  const reply = await redis.importHead({ generation: head.generation, text: headText });
  if (reply.status === 'exists') return settled(redis, head);
  if (reply.status === 'differs') throw leftover(redis, reply.generation, stateDir);
  return { kind: 'moved', generation: head.generation, revisions: usable.length + 1, skipped };
}
