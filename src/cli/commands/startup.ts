import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { failedError } from '../../core/errors.js';
import { pm2DaemonRunning } from '../../fleet/pm2-client.js';
import { systemdUnit, unitEnvFile, unitName } from '../../fleet/systemd-unit.js';
import { packageFile } from '../../package-root.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';

/**
 * `switchyard startup [--user] [--dir <folder>] [--name <unit>]`: prints the
 * systemd unit that brings this project back after a reboot
 * (fleet/systemd-unit.ts says what it runs and why), or with --yes writes
 * it. Into systemd's own folder it also runs `systemctl daemon-reload` and
 * `enable`; into --dir (a staging folder, the tests) it runs nothing and
 * prints the commands instead.
 */

const SYSTEM_DIR = '/etc/systemd/system';

/** The project's own switchyard when it has one installed; else the one running now. */
function switchyardBin(projectDir: string): string {
  const local = join(projectDir, 'node_modules', 'switchyard-cli', 'bin', 'switchyard.js');
  return existsSync(local) ? local : packageFile('bin/switchyard.js');
}

/** Who the PM2 daemon runs as: the account behind sudo when run with it, else this one. */
function unitUser(env: NodeJS.ProcessEnv): string {
  const me = userInfo();
  return me.uid === 0 && env.SUDO_USER !== undefined && env.SUDO_USER !== '' ? env.SUDO_USER : me.username;
}

async function confirmWrite(ctx: Context, file: string): Promise<boolean> {
  if (ctx.options.yes === true) return true;
  if (!ctx.interactive) return false;
  const { confirm } = await import('@inquirer/prompts');
  return confirm({ message: `Write this unit to ${file}?`, default: false });
}

/** Runs systemctl with a deadline; the error's words when it fails. */
async function systemctl(args: string[]): Promise<string | undefined> {
  const { execa } = await import('execa');
  const result = await execa('systemctl', [...args], { reject: false, timeout: 30_000, stdin: 'ignore' });
  if (result.exitCode === 0) return undefined;
  return `\`systemctl ${args.join(' ')}\` ${result.timedOut ? 'timed out' : `exited ${result.exitCode}`}: ${String(result.stderr).trim() || String(result.stdout).trim()}`;
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded } = await openProject(ctx);
  const { config } = loaded;
  const userUnit = options.user === true;
  const name = typeof options.name === 'string' ? options.name.replace(/\.service$/, '') : unitName(loaded.dir);
  const folder = typeof options.dir === 'string' ? resolve(ctx.cwd, options.dir) : userUnit ? join(homedir(), '.config', 'systemd', 'user') : SYSTEM_DIR;
  const file = join(folder, `${name}.service`);
  const bin = switchyardBin(loaded.dir);
  const node = process.execPath;
  const path = [...new Set([dirname(node), ...(ctx.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':'), '/usr/sbin', '/usr/bin', '/bin'])].join(':');
  const unit = systemdUnit({ configFile: loaded.filepath, dir: loaded.dir, stateDir: config.stateDir, pm2Home: config.pm2Home, node, bin, path, user: userUnit ? undefined : unitUser(ctx.env) });

  // What the shell gives this command but the unit would not have at boot.
  const notCarried = Object.keys(ctx.env).filter((k) => k.startsWith('SWITCHYARD_')).sort();
  if (notCarried.length > 0) ctx.out.warn(`the unit does not carry ${notCarried.join(', ')} from this shell: put them in ${unitEnvFile(config.stateDir)} (mode 0600), which the unit reads`);
  if (/[/\\]_npx[/\\]/.test(bin)) ctx.out.warn(`this switchyard runs from npx's cache (${bin}), which may be cleaned: install switchyard-cli in the project (npm install switchyard-cli) and run startup again`);

  if (!ctx.out.json) ctx.out.print(unit.trimEnd());
  const scope = userUnit ? ['--user'] : [];
  const commands = [['systemctl', ...scope, 'daemon-reload'], ['systemctl', ...scope, 'enable', `${name}.service`]];
  const base = { ok: true, name: `${name}.service`, file, unit, user: userUnit ? null : unitUser(ctx.env), commands: commands.map((c) => c.join(' ')) };
  if (!(await confirmWrite(ctx, file))) {
    ctx.out.info(`nothing was written: pass --yes to write it to ${file}${options.dir === undefined && !userUnit ? ' (as root), or --user for a user unit' : ''}`);
    ctx.out.result({ ...base, written: false, enabled: false });
    return;
  }
  const before = await readFile(file, 'utf8').catch(() => undefined);
  try {
    await mkdir(folder, { recursive: true });
    if (before !== unit) await writeFile(file, unit, { mode: 0o644 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const how = code === 'EACCES' || code === 'EPERM' ? ': run it as root (sudo), or pass --user for a user unit, or --dir to write it elsewhere' : '';
    throw failedError('unit_unwritable', `Cannot write ${file} (${(error as Error).message})${how}.`, { file });
  }
  ctx.out.success(before === unit ? `${file} already holds this unit` : `${before === undefined ? 'wrote' : 'replaced'} ${file}`);

  let enabled = false;
  if (options.dir === undefined) {
    const failures: string[] = [];
    for (const [, ...args] of commands) {
      const failed = await systemctl(args);
      if (failed !== undefined) failures.push(failed);
    }
    enabled = failures.length === 0;
    for (const f of failures) ctx.out.warn(f);
    if (enabled) ctx.out.success(`enabled ${name}.service: it starts at boot`);
  } else {
    ctx.out.info(`to install it: copy ${file} to ${userUnit ? '~/.config/systemd/user' : SYSTEM_DIR}, then run ${commands.map((c) => `\`${userUnit ? '' : 'sudo '}${c.join(' ')}\``).join(' and ')}`);
  }
  if (userUnit) ctx.out.info(`a user unit starts with your systemd user manager: \`loginctl enable-linger ${userInfo().username}\` makes that happen at boot, before anyone logs in`);
  const start = `systemctl ${[...scope, 'start', `${name}.service`].join(' ')}`;
  // systemd will not adopt a PM2 daemon started outside the unit (its pid file names a process not in the unit's cgroup).
  ctx.out.info(pm2DaemonRunning(config.pm2Home)
    ? `it takes over at the next boot; PM2 already runs this project outside the unit, which systemd would not adopt: to hand over without a reboot, \`switchyard down --yes\` (this stops the processes), then \`${start}\``
    : `it starts at the next boot, or now with \`${start}\``);
  ctx.out.result({ ...base, written: before !== unit, enabled });
};
