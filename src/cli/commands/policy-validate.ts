import { resolve } from 'node:path';
import { isSwitchyardError, usageError } from '../../core/errors.js';
import type { Policy, PolicyProblem } from '../../core/policy-schema.js';
import { readPolicyFile } from '../../store/policy-file.js';
import { applyRefusals } from '../../core/apply-rules.js';
import { refusalError } from '../../ops/apply-policy.js';
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

/** The live policy a file would replace, when there is a project with one (a file can be checked on its own too). */
async function livePolicy(ctx: Parameters<CommandModule['run']>[0]): Promise<Policy | undefined> {
  try {
    const { store } = await openProject(ctx);
    try {
      return (await store.exists()) ? await store.read() : undefined;
    } finally {
      await store.close();
    }
  } catch (error) {
    if (isSwitchyardError(error) && (error.code === 'config_missing' || error.code === 'policy_missing')) return undefined;
    throw error;
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
  // A file is also held to the rules `policy apply` would apply it by, against the live policy.
  const live = given === undefined ? undefined : await livePolicy(ctx);
  if (live !== undefined) {
    const refusals = applyRefusals(live, policy);
    if (refusals.length > 0) throw refusalError(path, refusals);
  }
  const services = Object.values(policy.services);
  const processes = services.reduce((n, s) => n + s.processes.length, 0);
  ctx.out.success(`${path} is valid: generation ${policy.generation}, ${services.length} service${services.length === 1 ? '' : 's'}, ${processes} process${processes === 1 ? '' : 'es'}`);
  ctx.out.result({ ok: true, valid: true, path, generation: policy.generation, services: services.length, processes });
};
