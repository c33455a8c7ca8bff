import { usageError } from '../core/errors.js';

/**
 * The systemd unit `switchyard startup` writes: at boot it runs this
 * project's own `switchyard router start`, which starts the PM2 daemon of
 * the project's PM2 home and the router under it; the router takes HAProxy
 * back (or starts it) when router.dataPlane is haproxy, and its reconcile
 * loop starts the target's and the canary's processes again from the
 * policy. PM2's own `pm2 save` / `pm2 resurrect` is not used: a dump is a
 * snapshot of PM2's list taken at some moment, so after later deploys it
 * would bring back retired incarnations under names the policy no longer
 * holds and miss the ones started since, while the policy is always the
 * current truth (docs/operations.md).
 *
 * Type=forking with PIDFile on PM2's pid file: systemd watches the PM2
 * daemon itself, so a daemon that dies (SIGKILL, OOM) is a failure and
 * Restart=on-failure runs `router start` again, which brings everything
 * back without waiting for the next switchyard command. A daemon told to
 * exit (`switchyard down`) exits 0 and is left down.
 */

export interface UnitInput {
  /** The project's config file, absolute. */
  configFile: string;
  /** The config's folder: the working folder. */
  dir: string;
  stateDir: string;
  pm2Home: string;
  /** The node binary, absolute. */
  node: string;
  /** The project's switchyard entry (bin/switchyard.js), absolute. */
  bin: string;
  /** PATH for the daemon and the processes it starts. */
  path: string;
  /** The account the daemon runs as; undefined in a user unit (it runs as its user already). */
  user: string | undefined;
}

/** Where a unit reads the variables that must not be written into it (a Redis password, say): optional, mode 0600. */
export function unitEnvFile(stateDir: string): string {
  return `${stateDir}/systemd.env`;
}

/** A unit name for the project: `switchyard-<folder>` with what systemd dislikes turned into '-'. */
export function unitName(projectDir: string): string {
  const base = projectDir.split('/').filter((p) => p !== '').pop() ?? 'project';
  return `switchyard-${base.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'project'}`;
}

/** A path as systemd needs it: absolute, on one line. */
function path(value: string, what: string): string {
  if (/[\n\r\0]/.test(value)) throw usageError('unit_unwritable', `${what} contains a line break, which a systemd unit cannot hold: ${JSON.stringify(value)}.`);
  if (!value.startsWith('/')) throw usageError('unit_unwritable', `${what} must be an absolute path for systemd, found ${JSON.stringify(value)}.`);
  return value;
}

/** Taken literally to the end of the line, with systemd's specifiers (%) escaped. */
function literal(value: string): string {
  return value.replaceAll('%', '%%');
}

/** Inside double quotes, as ExecStart= and Environment= read them: \ and " escaped, and the % specifiers. */
function quoted(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%');
}

/** One word of ExecStart=: $ would expand a variable there, so it is doubled too; quoted when it must be. */
function word(value: string): string {
  const escaped = quoted(value).replaceAll('$', '$$$$');
  return /^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped) ? escaped : `"${escaped}"`;
}

/** The unit file's text. */
export function systemdUnit(input: UnitInput): string {
  const node = word(path(input.node, 'the node binary'));
  const bin = word(path(input.bin, "switchyard's bin/switchyard.js"));
  const { user } = input;
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/.test(user)) throw usageError('unit_unwritable', `The user ${JSON.stringify(user)} is not a name systemd takes in User=.`);
  return [
    `# Written by \`switchyard startup\` for ${input.configFile}.`,
    '# At boot: this project\'s PM2 daemon and router (`switchyard router start`); the router',
    '# brings its HAProxy back when router.dataPlane is haproxy, and its reconcile loop starts',
    '# the target\'s and the canary\'s processes from the policy. See docs/operations.md.',
    '[Unit]',
    `Description=switchyard: PM2 daemon, router and processes of ${literal(path(input.dir, 'the project folder'))}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=forking',
    ...(user === undefined ? [] : [`User=${user}`]),
    `WorkingDirectory=${literal(input.dir)}`,
    `Environment="PM2_HOME=${quoted(path(input.pm2Home, 'the PM2 home'))}"`,
    // Only absolute entries: systemd runs nothing from a relative PATH.
    `Environment="PATH=${quoted(input.path.split(':').filter((p) => p.startsWith('/') && !/[\n\r\0]/.test(p)).join(':'))}"`,
    `EnvironmentFile=-${literal(unitEnvFile(path(input.stateDir, 'the state folder')))}`,
    `PIDFile=${literal(`${input.pm2Home}/pm2.pid`)}`,
    `ExecStart=${node} ${bin} router start --config ${word(path(input.configFile, 'the config file'))}`,
    'Restart=on-failure',
    'RestartSec=5',
    // Redis or the network may take a while at boot; `router start` itself waits up to 15 s for the router.
    'TimeoutStartSec=120',
    // SIGTERM to the PM2 daemon only: it stops each process gracefully (SIGINT, then its kill timeout); what is left goes at the end.
    'KillMode=mixed',
    'TimeoutStopSec=60',
    'LimitNOFILE=infinity',
    '',
    '[Install]',
    `WantedBy=${user === undefined ? 'default.target' : 'multi-user.target'}`,
    '',
  ].join('\n');
}
