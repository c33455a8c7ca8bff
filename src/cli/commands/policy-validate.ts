import { resolve } from 'node:path';
import { isSwitchyardError, usageError } from '../../core/errors.js';
import type { Policy, PolicyProblem } from '../../core/policy-schema.js';
import { readPolicyFile } from '../../store/policy-file.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';

/** Reads a policy; when it is invalid, the error lists every problem, one a line. */
export async function readListingEveryProblem(read: () => Promise<Policy>): Promise<Policy> {
  try {
    return await read();
  } catch (error) {
    if (!isSwitchyardError(error) || error.code !== 'policy_invalid') throw error;
    const path = String(error.details?.path ?? '');
    const problems = (error.details?.problems ?? []) as PolicyProblem[];
    const list = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    throw usageError('policy_invalid', `${path} is not a valid policy (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${list}`, { path, problems });
  }
}

export const run: CommandModule['run'] = async (ctx, args) => {
  const given = args[0];
  let path: string;
  let read: () => Promise<Policy>;
  if (given !== undefined) {
    path = resolve(ctx.cwd, given);
    read = () => readPolicyFile(path, () => usageError('policy_missing', `There is no file at ${path}.`));
  } else {
    const { store } = await openProject(ctx);
    path = store.location;
    read = () => store.read();
  }
  const policy = await readListingEveryProblem(read);
  const services = Object.values(policy.services);
  const processes = services.reduce((n, s) => n + s.processes.length, 0);
  ctx.out.success(`${path} is valid: generation ${policy.generation}, ${services.length} service${services.length === 1 ? '' : 's'}, ${processes} process${processes === 1 ? '' : 'es'}`);
  ctx.out.result({ ok: true, valid: true, path, generation: policy.generation, services: services.length, processes });
};
