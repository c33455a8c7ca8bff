import { Command, CommanderError, Option } from 'commander';
import { isSwitchyardError } from '../core/errors.js';
import { createContext, type Context, type GlobalOptions } from './context.js';
import { Output } from './output.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec } from './commands.js';
import { readPackageVersion } from './package-info.js';

function addGlobalOptions(command: Command): Command {
  for (const option of GLOBAL_OPTIONS) command.option(option.flags, option.description);
  return command;
}

function register(program: Command, spec: CommandSpec, onRun: (spec: CommandSpec, command: Command, args: string[]) => Promise<void>): void {
  const parentName = spec.name.includes(' ') ? spec.name.split(' ')[0]! : undefined;
  const ownName = spec.name.split(' ').at(-1)!;
  let parent = program;
  if (parentName !== undefined) {
    parent = program.commands.find((c) => c.name() === parentName) ?? program.command(parentName).description(spec.group ?? '');
  }
  const command = parent.command(`${ownName}${spec.args ? ` ${spec.args}` : ''}`).description(spec.description);
  addGlobalOptions(command);
  for (const option of spec.options ?? []) {
    const made = new Option(option.flags, option.description);
    if (option.default !== undefined) made.default(option.default);
    command.addOption(made);
  }
  command.action(async (...actionArgs: unknown[]) => {
    const cmd = actionArgs.at(-1) as Command;
    const positional = actionArgs.slice(0, -2).map((a) => a as string);
    await onRun(spec, cmd, positional);
  });
}

/** Turns whatever was thrown into an exit code and words for a person. */
function report(error: unknown, out: Output): number {
  if (isSwitchyardError(error)) {
    out.error(error.message);
    out.result({ ok: false, error: error.code, message: error.message, ...(error.details ?? {}) });
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  out.error(`internal error: ${message}`);
  if (error instanceof Error && error.stack !== undefined) out.info(error.stack);
  out.info('This is a bug in switchyard: please report it with the command you ran.');
  out.result({ ok: false, error: 'internal', message });
  return 1;
}

/** `commander.unknownCommand` → `unknown_command`, and the message without commander's `error: ` prefix. */
function usageResult(error: CommanderError): { ok: false; error: string; message: string } {
  const code = error.code.replace(/^commander\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const message = error.message.replace(/^error: /, '').replace(/\n[\s\S]*$/, '');
  return { ok: false, error: code === 'help' ? 'usage' : code, message: code === 'help' ? 'a command is needed: run switchyard --help to see them' : message };
}

/**
 * The entry point, and the only place that decides the exit code. It sets
 * process.exitCode rather than exiting, so output is flushed and cleanup runs.
 */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('switchyard')
    .description('Run several versions of a service side by side under PM2 and route every terminal to its own version.')
    .version(readPackageVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  addGlobalOptions(program);

  let context: Context | undefined;
  for (const spec of COMMANDS) {
    register(program, spec, async (commandSpec, command, args) => {
      const options = command.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
      context = createContext(options, { stdinIsTTY: process.stdin.isTTY === true, cwd: process.cwd(), env: process.env });
      const module = await commandSpec.load();
      await module.run(context, args, options);
    });
  }
  for (const command of program.commands) command.exitOverride();

  try {
    await program.parseAsync(argv);
  } catch (error) {
    const json = argv.includes('--json');
    if (error instanceof CommanderError) {
      // Help and version are not failures; every other parse error is bad usage.
      // Commander has already told people on stderr; CI reading --json gets it as a result too.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      if (error.exitCode !== 0) new Output({ json, verbose: false }).result(usageResult(error));
      return;
    }
    process.exitCode = report(error, context?.out ?? new Output({ json, verbose: false }));
  } finally {
    // The command is done and its output written. A PM2 connection whose daemon died keeps
    // reconnect timers alive (STACK.md, PM2 trap 2): end anyway, after a grace, never hang.
    setTimeout(() => process.exit(), 2000).unref();
  }
}
