import type { Context, GlobalOptions } from './context.js';

export interface CommandModule {
  run(ctx: Context, args: string[], options: GlobalOptions & Record<string, unknown>): Promise<void>;
}

export interface CommandSpec {
  /** `init`, or `policy show` for a subcommand. */
  name: string;
  args?: string;
  description: string;
  /** Description of the parent command, for the first subcommand of a group. */
  group?: string;
  options?: Array<{ flags: string; description: string; default?: unknown }>;
  /** Commands load their modules lazily so the CLI starts fast. */
  load: () => Promise<CommandModule>;
}

/** The flags every command takes (main.ts adds them to each; completion lists them). */
export const GLOBAL_OPTIONS: Array<{ flags: string; description: string }> = [
  { flags: '--config <file>', description: 'config file to use instead of searching for one' },
  { flags: '--json', description: 'print one machine-readable JSON result on stdout, nothing else' },
  { flags: '-y, --yes', description: 'never prompt; take defaults where a question would be asked' },
  { flags: '--service <name>', description: 'the service to act on (needed only with several services)' },
  { flags: '--verbose', description: 'print more detail on stderr' },
];

const DRY_RUN = { flags: '--dry-run', description: 'print the policy diff; change nothing' };
/** What `rollout pause|abort|promote` take. */
const STEER_OPTIONS = [{ flags: '--reason <text>', description: 'why, kept as the rollout\'s reason' }, DRY_RUN];

/** The command table: every command switchyard has, in the order help lists them. */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'init',
    description: 'write a config, the state folder and the heartbeat token',
    options: [
      { flags: '--force', description: 'overwrite an existing config' },
      { flags: '--script <path>', description: 'start script of the service; {version} is replaced by the version' },
      { flags: '--ports <range>', description: 'port range for the service processes, like 7500-7599' },
      { flags: '--listen <host:port>', description: 'where the router listens' },
      { flags: '--template <name>', description: 'also write a sample service: service (HTTP + WebSocket, with heartbeats)' },
      { flags: '--from <file>', description: 'turn the apps of a PM2 ecosystem file (.js, .cjs, .json, .yaml) into services' },
    ],
    load: () => import('./commands/init.js'),
  },
  {
    name: 'deploy',
    args: '<version>',
    description: 'start a version beside the running ones, wait until ready, add it to the policy and make it the target',
    options: [
      { flags: '--no-promote', description: 'add the version as active without making it the target' },
      { flags: '--canary <percent>', description: 'send this share of logins to the new version instead of promoting it' },
      { flags: '--steps [plan]', description: 'a progressive rollout run by the router: the configured plan (services.<name>.rollout.steps), or one inline like 10:2m,50:5m,100' },
      { flags: '--wait', description: 'block until the previous target is retired; with --steps, follow the plan: exit 0 completed, 1 aborted, 3 timed out (the plan goes on)' },
      { flags: '--timeout <duration>', description: 'with --wait: give up after this long (exit 3), like 10m' },
      { flags: '--sync <dir>', description: "copy this folder into the version's folder on every host first (rsync over ssh, else tar)" },
      { flags: '--parallel <n>', description: 'work on at most this many hosts at once (default 8)' },
      { flags: '--allow-partial', description: 'keep the hosts that became ready when others failed (default: all hosts or none)' },
      { flags: '--port <port>', description: 'the port to start on (a comma-separated list with several instances or hosts, in host order)' },
      { flags: '--dry-run', description: 'print the processes to start and the policy diff; change nothing' },
    ],
    load: () => import('./commands/deploy.js'),
  },
  {
    name: 'promote',
    args: '<version>',
    description: 'make an active version the target; the previous target starts draining',
    options: [{ flags: '--dry-run', description: 'print the policy diff; change nothing' }],
    load: () => import('./commands/promote.js'),
  },
  {
    name: 'rollback',
    description: 'make the previous target the target again (restarting it if it was retired); the current one drains',
    options: [
      { flags: '--to <version>', description: 'roll back to this version instead of the previous target' },
      { flags: '--dry-run', description: 'print the policy diff; change nothing' },
    ],
    load: () => import('./commands/rollback.js'),
  },
  {
    name: 'drain',
    args: '<version>',
    description: 'stop new logins to a version; the router retires it once no terminal holds it',
    options: [
      { flags: '--wait', description: 'block until it is retired' },
      { flags: '--timeout <duration>', description: 'with --wait: give up after this long (exit 3), like 10m' },
      { flags: '--now', description: 'stop its processes at once, reporting the terminals cut off' },
      { flags: '--dry-run', description: 'print the processes to stop and the policy diff; change nothing' },
    ],
    load: () => import('./commands/drain.js'),
  },
  {
    name: 'status',
    description: 'versions, processes, states, heartbeat ages and the terminal tally per version',
    options: [
      { flags: '--watch', description: 'redraw every heartbeat interval until Ctrl-C' },
      { flags: '--check', description: 'exit 1 when something needs an operator: a process missing, errored or unknown in PM2, orphans, a broken policy file, the router down' },
      { flags: '--prune', description: 'delete orphans (PM2 processes named like this project\'s that the policy does not name, seen in two looks); those claimed by generations the store lost go only with --yes, which also confirms the store went back' },
    ],
    load: () => import('./commands/status.js'),
  },
  {
    name: 'logs',
    args: '[version]',
    description: "what PM2 logged for a version's processes (default: the target) on every host, each line prefixed with its process id",
    options: [
      { flags: '--lines <n>', description: 'how many of the last lines of each process to show (default 50)' },
      { flags: '--follow', description: 'keep printing new lines until Ctrl-C' },
    ],
    load: () => import('./commands/logs.js'),
  },
  {
    name: 'down',
    description: "stop the router, every process of this project and this project's PM2 daemon; the policy and its history stay",
    load: () => import('./commands/down.js'),
  },
  {
    name: 'startup',
    description: "print, or with --yes install, a systemd unit that brings this project's PM2 daemon, router and processes back after a reboot",
    options: [
      { flags: '--user', description: 'a user unit (~/.config/systemd/user) instead of a system one' },
      { flags: '--dir <folder>', description: 'write the unit into this folder instead of systemd\'s, and run no systemctl' },
      { flags: '--name <unit>', description: 'the unit name (default switchyard-<project folder>)' },
    ],
    load: () => import('./commands/startup.js'),
  },
  {
    name: 'completion',
    args: '[shell]',
    description: 'print a completion script for bash, zsh or fish (commands, flags and the versions in the policy)',
    options: [{ flags: '--versions', description: 'print the versions in the policy, one a line (what the scripts call)' }],
    load: () => import('./commands/completion.js'),
  },
  {
    name: 'demo',
    description: 'the whole story on this machine, nothing configured: two versions, simulated terminals, a rollout, the drain, the tally live, a clean-up',
    options: [
      { flags: '--terminals <n>', description: 'terminals online at once', default: '50' },
      { flags: '--duration <duration>', description: 'how long new terminals keep arriving', default: '20s' },
      { flags: '--dir <folder>', description: 'write the demo project here instead of a temp folder' },
      { flags: '--keep', description: 'leave the router, processes, PM2 daemon and files running for a look' },
    ],
    load: () => import('./commands/demo.js'),
  },
  {
    name: 'rollout status',
    group: 'see and steer the progressive rollout the router runs (started by deploy --steps)',
    description: 'the plan, the step, the time left in its pause, the recent verdicts with their figures, the state and why',
    options: [{ flags: '--watch', description: 'redraw every second until Ctrl-C' }],
    load: () => import('./commands/rollout-status.js'),
  },
  {
    name: 'rollout pause',
    description: 'hold the rollout at its current canary weight; no verdict moves it until resumed',
    options: STEER_OPTIONS,
    load: () => import('./commands/rollout-pause.js'),
  },
  {
    name: 'rollout resume',
    description: 'let a paused rollout go on: its step is held for its whole pause again, on fresh figures',
    options: [DRY_RUN],
    load: () => import('./commands/rollout-resume.js'),
  },
  {
    name: 'rollout abort',
    description: 'stop the rollout: the canary is removed, the target stays, the new version drains',
    options: STEER_OPTIONS,
    load: () => import('./commands/rollout-abort.js'),
  },
  {
    name: 'rollout promote',
    description: 'skip the remaining steps: the new version becomes the target, the old one drains',
    options: STEER_OPTIONS,
    load: () => import('./commands/rollout-promote.js'),
  },
  {
    name: 'policy show',
    group: 'read and check the routing policy and its revisions',
    description: 'print the routing policy',
    load: () => import('./commands/policy-show.js'),
  },
  {
    name: 'policy validate',
    args: '[file]',
    description: 'check a policy file (default: the live one); lists every problem by path, and every change against the live policy that `policy apply` would refuse',
    load: () => import('./commands/policy-validate.js'),
  },
  {
    name: 'policy history',
    description: 'list every revision of the policy: generation, time, what changed',
    load: () => import('./commands/policy-history.js'),
  },
  {
    name: 'policy diff',
    args: '<genA> <genB>',
    description: 'what changed between two revisions of the policy',
    load: () => import('./commands/policy-diff.js'),
  },
  {
    name: 'policy apply',
    args: '<file>',
    description: 'write a hand-written policy file as the next generation if every change follows the transition rules (exit 2 naming each that does not; exit 4 if the policy changed meanwhile)',
    options: [
      { flags: '--force', description: 'write it even though the transition rules refuse it (needs --reason)' },
      { flags: '--reason <text>', description: 'with --force: why, kept in the policy history' },
    ],
    load: () => import('./commands/policy-apply.js'),
  },
  {
    name: 'export nginx',
    group: 'print the routing policy as configuration for another proxy',
    description: 'print nginx map and upstream blocks of the current policy (docs/haproxy.md says how to reload nginx with them)',
    options: [{ flags: '--listen <host:port>', description: 'also print a server block listening here that routes by them' }],
    load: () => import('./commands/export-nginx.js'),
  },
  {
    name: 'router run',
    group: 'the router: under PM2 (start, stop, status) or in the foreground (run)',
    description: 'run the router in the foreground (logs to stderr; stops cleanly on SIGINT/SIGTERM)',
    options: [{ flags: '--listen <host:port>', description: 'run one more router with the same config on this address (instead of router.listen)' }],
    load: () => import('./commands/router-run.js'),
  },
  {
    name: 'router start',
    description: 'start the router under PM2 as switchyard-router; returns once it answers /healthz',
    options: [{ flags: '--listen <host:port>', description: 'start one more router with the same config on this address, as switchyard-router-<port>' }],
    load: () => import('./commands/router-start.js'),
  },
  {
    name: 'router stop',
    description: 'stop the router that PM2 runs, letting in-flight requests finish',
    options: [
      { flags: '--listen <host:port>', description: 'stop the router started on this address with router start --listen' },
      { flags: '--all', description: 'stop every switchyard router this PM2 home runs' },
    ],
    load: () => import('./commands/router-stop.js'),
  },
  {
    name: 'router status',
    description: 'whether the router answers, which policy generation it serves, and PM2\'s view of it',
    load: () => import('./commands/router-status.js'),
  },
];
