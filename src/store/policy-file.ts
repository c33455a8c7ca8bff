import { dirname } from 'node:path';
import { usageError, type SwitchyardError } from '../core/errors.js';
import { checkPolicy, type Policy, type PolicyProblem } from '../core/policy-schema.js';
import { readStateFile } from './state-files.js';

/**
 * Reading one policy file (policy.json or a history revision) into a checked
 * Policy, with errors that name the file and say what to do. Shared by the
 * live policy and its history so both fail the same way.
 */

/** How many problems the one-line message shows; all of them go in details. */
const SHOWN_PROBLEMS = 3;

/** Pretty-printed with a trailing newline, so files diff well and `cat` cleanly. */
export function serializePolicy(policy: Policy): string {
  return `${JSON.stringify(policy, null, 2)}\n`;
}

export function describeProblems(problems: PolicyProblem[]): string {
  const shown = problems.slice(0, SHOWN_PROBLEMS).map((p) => `${p.path}: ${p.message}`);
  const more = problems.length > SHOWN_PROBLEMS ? ` (and ${problems.length - SHOWN_PROBLEMS} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** Parses and checks policy text read from `path`. */
export function parsePolicyText(path: string, text: string): Policy {
  let data: unknown;
  try {
    // Editors on Windows may add a byte-order mark to a hand-written file.
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const reason = (err as Error).message;
    const problems: PolicyProblem[] = [{ path: '(top level)', message: reason }];
    throw usageError(
      'policy_invalid',
      `${path} is not valid JSON: ${reason}. Fix the file, or restore a good revision from the history folder.`,
      { path, problems },
    );
  }
  const check = checkPolicy(data);
  if (!check.ok) {
    throw usageError(
      'policy_invalid',
      `${path} is not a valid policy: ${describeProblems(check.problems)}. Fix the file, or restore a good revision from the history folder.`,
      { path, problems: check.problems },
    );
  }
  return check.policy;
}

/**
 * Reads and checks a policy file (never through a symlink, never anything
 * but a regular file). `missing` builds the error for a file that does not
 * exist, since what to do about it differs (init vs. history).
 */
export async function readPolicyFile(path: string, missing: () => SwitchyardError): Promise<Policy> {
  const text = await readStateFile(path, dirname(path));
  if (text === undefined) throw missing();
  return parsePolicyText(path, text);
}
