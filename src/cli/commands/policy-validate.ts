import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { usageError } from '../../core/errors.js';
import { checkPolicy, type Policy } from '../../core/policy-schema.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';

async function readGiven(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw usageError('policy_missing', `Cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const problems = [{ path: '(file)', message: `not valid JSON: ${(error as Error).message}` }];
    throw usageError('policy_invalid', `${path} is not valid JSON: ${(error as Error).message}`, { path, problems });
  }
  const checked = checkPolicy(data);
  if (!checked.ok) {
    const list = checked.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    throw usageError('policy_invalid', `${path} is not a valid policy (${checked.problems.length} problem${checked.problems.length === 1 ? '' : 's'}):\n${list}`, { path, problems: checked.problems });
  }
  return checked.policy;
}

export const run: CommandModule['run'] = async (ctx, args) => {
  const given = args[0];
  let path: string;
  let policy: Policy;
  if (given !== undefined) {
    path = resolve(ctx.cwd, given);
    policy = await readGiven(path);
  } else {
    const { store } = await openProject(ctx);
    path = store.path;
    policy = await store.read();
  }
  const services = Object.values(policy.services);
  const processes = services.reduce((n, s) => n + s.processes.length, 0);
  ctx.out.success(`${path} is valid: generation ${policy.generation}, ${services.length} service${services.length === 1 ? '' : 's'}, ${processes} process${processes === 1 ? '' : 'es'}`);
  ctx.out.result({ ok: true, valid: true, path, generation: policy.generation, services: services.length, processes });
};
