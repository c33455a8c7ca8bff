import { usageError } from '../../core/errors.js';
import { compareVersionsDesc } from '../../core/version.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandModule } from '../commands.js';
import { completionScript, SHELLS, splitFlags, type CompletionCommand, type Shell } from '../completion-scripts.js';
import { openProject } from '../project.js';

/**
 * `switchyard completion bash|zsh|fish` prints a completion script made from
 * the command table; `--versions` prints the policy's versions, one a line,
 * which is what those scripts call when a version is due.
 */

function table(): CompletionCommand[] {
  const globals = GLOBAL_OPTIONS.map((o) => splitFlags(o.flags));
  return COMMANDS.map((spec) => {
    const own = (spec.options ?? []).map((o) => splitFlags(o.flags));
    const all = [...own, ...globals];
    return {
      name: spec.name,
      description: spec.description,
      flags: [...all.flatMap((f) => f.names), '--help'],
      valueFlags: all.filter((f) => f.takesValue).flatMap((f) => f.names),
      takesVersion: /^[<[]version[>\]]/.test(spec.args ?? ''),
    };
  });
}

export const run: CommandModule['run'] = async (ctx, args, options) => {
  if (options.versions === true) {
    const { store } = await openProject(ctx);
    const policy = await store.read();
    const services = ctx.options.service === undefined ? Object.values(policy.services) : [policy.services[ctx.options.service]].filter((s) => s !== undefined);
    const versions = [...new Set(services.flatMap((s) => [...s.processes.map((p) => p.version), ...(s.target === null ? [] : [s.target])]))].sort(compareVersionsDesc);
    if (ctx.options.json === true) ctx.out.result({ ok: true, versions });
    else if (versions.length > 0) process.stdout.write(`${versions.join('\n')}\n`);
    return;
  }
  const shell = args[0];
  if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
    throw usageError('unknown_shell', `${shell === undefined ? 'Name a shell' : `There is no completion for ${JSON.stringify(shell)}`}: switchyard completion ${SHELLS.join('|')}.`);
  }
  const script = completionScript(shell as Shell, table(), GLOBAL_OPTIONS.flatMap((o) => splitFlags(o.flags).names));
  if (ctx.options.json === true) ctx.out.result({ ok: true, shell, script });
  else process.stdout.write(script);
};
