import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { PolicyStore } from '../../../src/store/policy-store.js';
import { ensureToken } from '../../../src/store/token.js';
import { runCli, type CliResult } from '../../helpers/cli.js';
import { freePort } from '../../helpers/free-port.js';
import type { Pm2Home } from '../../helpers/pm2-home.js';
import { PM2_BIN, SAMPLE_SERVICE } from '../../helpers/rollout-project.js';

/**
 * Inputs that are valid but hostile: every one would run `touch <marker>`
 * if any shell ever parsed it. They must reach the process as data: as the
 * script's path, its working folder, its arguments and its environment,
 * byte for byte.
 *
 * The script's folder has no space: PM2 runs a script whose path holds a
 * space through `bash -c` (pm2/lib/Common.js), a known bug reported to the
 * fleet's owners and pinned by security.test.ts. The working folder has
 * spaces (PM2 hands it to spawn, no shell).
 */

export const HOSTILE_VERSION = '1.0.0-rc.1+build.7';
export const HOSTILE_SERVICE = 'edge_lobby-1';

export function hostileInputs(marker: string) {
  return {
    /** A folder name (no "/", no space) full of shell syntax; $SY_MARKER is the marker's path in the environment. */
    folder: `it's$(touch$IFS$SY_MARKER);\`touch$IFS$SY_MARKER\`|&>*~"x"`,
    /** A working folder name with spaces too. */
    cwd: `work dir $(touch $SY_MARKER) 'x' "y" ; z`,
    args: [`$(touch ${marker})`, `; touch ${marker}`, `\`touch ${marker}\``, `' ; touch ${marker} ; '`, '&& touch $SY_MARKER', '"$(touch $SY_MARKER)"', '\n touch $SY_MARKER', '*'],
    env: { EVIL: `$(touch ${marker})`, QUOTES: `it's "quoted" \`touch $SY_MARKER\` \\ $SY_MARKER` },
  };
}

/**
 * A release of the sample service at `<dir>/<version>/server.mjs` that first
 * writes what it was given (its path, arguments, working folder and the
 * hostile variables) to seen.json beside itself: PM2 sets the process title,
 * which overwrites /proc/<pid>/cmdline, so the process reports it itself.
 */
export async function writeRelease(dir: string, version: string): Promise<string> {
  await mkdir(join(dir, version), { recursive: true });
  const script = join(dir, version, 'server.mjs');
  await writeFile(script, [
    "import { writeFileSync } from 'node:fs';",
    "import { fileURLToPath } from 'node:url';",
    'const seen = { script: fileURLToPath(import.meta.url), argv: process.argv.slice(2), cwd: process.cwd(), env: { EVIL: process.env.EVIL, QUOTES: process.env.QUOTES } };',
    "writeFileSync(new URL('./seen.json', import.meta.url), JSON.stringify(seen));",
    `await import(${JSON.stringify(SAMPLE_SERVICE)});`,
    '',
  ].join('\n'));
  return script;
}

export interface Seen {
  script: string;
  argv: string[];
  cwd: string;
  env: Record<string, string | undefined>;
}

/** What the release at `script` reported it was given. */
export function seenBy(script: string): Seen {
  return JSON.parse(readFileSync(join(dirname(script), 'seen.json'), 'utf8')) as Seen;
}

/** pid of a named process in a PM2_HOME, by `pm2 jlist` (the daemon must be running). */
/** The pid of the PM2 process of a slot (`lobby@1.0.0#0`), whatever its incarnation (`.g<n>`). */
export async function pm2Pid(home: string, name: string): Promise<number | undefined> {
  const r = await execa(PM2_BIN, ['jlist'], { env: { PM2_HOME: home }, reject: false, timeout: 20_000, stdin: 'ignore' });
  const line = String(r.stdout).split('\n').reverse().find((l) => l.trimStart().startsWith('['));
  const list = line === undefined ? [] : (JSON.parse(line) as Array<{ name: string; pid: number }>);
  return list.find((p) => p.name === name || p.name.startsWith(`${name}.g`))?.pid;
}

export interface RemoteProject {
  dir: string;
  script: string;
  cli(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  writeConfig(name: string, edit?: (config: any) => void): Promise<string>;
}

/**
 * A project whose only host is "remote": reached through `ssh` (the shim on
 * PATH), with its own PM2_HOME; the release is already in place at a
 * hostile absolute path. Nothing else on the host is used.
 */
export async function remoteProject(opts: { dir: string; localPm2: Pm2Home; remotePm2: Pm2Home; binDir: string; marker: string; ports: string }): Promise<RemoteProject> {
  const hostile = hostileInputs(opts.marker);
  const script = await writeRelease(join(opts.dir, 'srv', hostile.folder), HOSTILE_VERSION);
  await mkdir(join(opts.dir, 'srv', hostile.cwd), { recursive: true });
  const config = {
    router: { listen: `127.0.0.1:${await freePort()}`, heartbeatInterval: '1s' },
    state: '.switchyard',
    pm2Home: opts.localPm2.home,
    hosts: { edge: { ssh: 'deploy@edge-1.invalid', address: '127.0.0.1', pm2Home: opts.remotePm2.home, pm2Path: PM2_BIN } },
    services: {
      [HOSTILE_SERVICE]: {
        script: join(opts.dir, 'srv', hostile.folder, '{version}', 'server.mjs'),
        cwd: join(opts.dir, 'srv', hostile.cwd),
        ports: opts.ports,
        hosts: ['edge'],
        args: hostile.args,
        env: hostile.env,
        readiness: { http: '/healthz', timeout: '20s' },
        killTimeout: '2s',
      },
    },
  };
  const writeConfig = async (name: string, edit?: (c: any) => void) => {
    const copy = structuredClone(config);
    edit?.(copy);
    const file = join(opts.dir, name);
    await writeFile(file, stringify(copy));
    return file;
  };
  await writeConfig('switchyard.config.yaml');
  await new PolicyStore(join(opts.dir, '.switchyard')).init();
  await ensureToken(join(opts.dir, '.switchyard'));
  const env = { PATH: `${opts.binDir}:${process.env.PATH}`, SY_MARKER: opts.marker, PM2_HOME: opts.localPm2.home, NODE_OPTIONS: undefined };
  return {
    dir: opts.dir,
    script,
    cli: (args, extra = {}) => runCli(args, { cwd: opts.dir, env: { ...env, ...extra }, timeoutMs: 90_000 }),
    writeConfig,
  };
}
