import { mkdir } from 'node:fs/promises';
import { loadConfig } from '../config/load.js';
import { usageError } from '../core/errors.js';
import { movePolicyToRedis, type MoveOutcome } from '../store/move-to-redis.js';
import { openStore } from '../store/open-store.js';
import { RedisStore } from '../store/redis-store.js';
import { ensureToken } from '../store/token.js';
import type { Context } from './context.js';

/**
 * What `init` makes beside the config: the policy (moved into Redis from
 * the files when the config names Redis and a file policy exists), the
 * state folder and the token. Each is made only when missing, so this is
 * also all that `init` does in a project whose config exists.
 */

/** The move, said for people; null in the result when there was nothing to move. */
function tellMove(ctx: Context, move: MoveOutcome, from: string, to: string) {
  switch (move.kind) {
    case 'no_file_policy':
      return null;
    case 'same':
      ctx.out.success(`Redis at ${to} already holds the policy of ${from} (generation ${move.generation}): nothing to move`);
      break;
    case 'moved_before':
      ctx.out.success(`the policy of ${from} (generation ${move.generation}) was moved into Redis before, which has gone on to generation ${move.redisGeneration}: nothing to move`);
      break;
    case 'moved':
      ctx.out.success(`moved the policy (generation ${move.generation}) and ${move.revisions} revision${move.revisions === 1 ? '' : 's'} of its history from ${from} into ${to}; the files stay as they were, and no process was touched`);
      for (const s of move.skipped) ctx.out.warn(`not moved: ${from}/history/${s.generation}.json (${s.reason})`);
      ctx.out.info('routers started before the move still follow the files: restart them (`switchyard router stop && switchyard router start`) so that they follow Redis');
      break;
  }
  return move;
}

/** Loads what was written (the checks every command makes), then makes what is missing of the state. */
export async function writeState(ctx: Context, configFile: string) {
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: configFile, env: ctx.env });
  for (const warning of loaded.warnings) ctx.out.warn(warning);
  const { stateDir } = loaded.config;
  // With coordination.redis the policy lives in Redis: init creates it there, or moves the file policy in.
  const store = openStore(loaded.config);
  let move: ReturnType<typeof tellMove> = null;
  let policy: { created: boolean };
  try {
    if (store instanceof RedisStore) move = tellMove(ctx, await movePolicyToRedis(stateDir, store), stateDir, store.location);
    policy = await store.init();
  } finally {
    await store.close();
  }
  // The file store made the state folder; with Redis it still holds the token, logs and PM2 home.
  await mkdir(stateDir, { recursive: true });
  const token = await ensureToken(stateDir);
  ctx.out.success(`${policy.created ? 'created' : 'kept'} the policy at ${store.location}`);
  ctx.out.success(`${token.created ? 'created' : 'kept'} the token at ${token.path} (mode 0600)`);
  return { stateDir, policy: store.location, token: token.path, createdPolicy: policy.created, createdToken: token.created, moved: move };
}

/** Flags whose answers only a new config would hold. */
const ANSWER_FLAGS = ['script', 'ports', 'listen', 'template', 'from'] as const;

/**
 * `init` where a config exists (without --force): the config is never
 * touched; only what is missing of the state is made. It asks first on a
 * terminal, and without one needs --yes.
 */
export async function completeExisting(ctx: Context, configFile: string, options: Record<string, unknown>): Promise<void> {
  const given = ANSWER_FLAGS.filter((flag) => options[flag] !== undefined).map((flag) => `--${flag}`);
  if (given.length > 0) {
    throw usageError('config_exists', `A config already exists at ${configFile}, and init never changes it: ${given.join(', ')} would only go into a new one. Edit the config by hand, or pass --force to write a new one over it.`);
  }
  if (ctx.options.yes !== true) {
    if (!ctx.interactive) throw usageError('config_exists', `A config already exists at ${configFile}: pass --yes to have init check it and create only what is missing (the state folder, the policy, the token; a file policy is moved into Redis when the config names Redis), or --force to overwrite the config.`);
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: `A config exists at ${configFile}: keep it untouched, and create only what is missing of its state?`, default: true }))) {
      ctx.out.info('nothing was changed');
      ctx.out.result({ ok: true, cancelled: true });
      return;
    }
  }
  ctx.out.info(`kept the config at ${configFile}, untouched`);
  const made = await writeState(ctx, configFile);
  ctx.out.result({ ok: true, config: configFile, configKept: true, ...made });
}
