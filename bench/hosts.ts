/**
 * Parallel deploys across many hosts: wall time should follow the slowest
 * host, not the sum of all hosts.
 *
 *   npm run build && npm run bench:hosts            # N = 8
 *   npm run build && npm run bench:hosts -- --quick # N = 3
 *   npm run bench:hosts -- --hosts 12
 *
 * Each "host" is this machine reached over ssh: its own sshd on a free
 * loopback port, its own home and PM2 daemon (test/helpers/sshd.ts), so
 * every step is the real one (ssh, rsync, pm2's CLI, readiness from here).
 * Three deploys are timed: 1.0.0 cold (each host's PM2 daemon starts), 1.1.0
 * warm with the default --parallel, and 1.2.0 warm with --parallel 1 as the
 * serial baseline. "total" is the deploy's own elapsed time (what the CLI
 * reports, without Node's start-up); per-host times are the CLI's per-host
 * results. On a machine with few cores the hosts also share the CPU (pm2's
 * CLI costs ~0.5 s of CPU per call), which stretches each host's time.
 */
import { availableParallelism } from 'node:os';
import { startSshdHosts, type SshdFleet } from '../test/helpers/sshd.js';
import { makeRemoteProject, type RemoteProject } from '../test/remote/remote-project.js';

interface Round {
  label: string;
  total: number;
  wall: number;
  perHost: Array<{ host: string; ms: number; outcome: string }>;
}

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

const quick = process.argv.includes('--quick');
const n = Number(argValue('--hosts') ?? (quick ? 3 : 8));
if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('--hosts takes a whole number from 1 to 64');

async function deploy(project: RemoteProject, label: string, args: string[]): Promise<Round> {
  const started = performance.now();
  const { exitCode, body, stderr } = await project.json(['deploy', ...args]);
  const wall = performance.now() - started;
  if (exitCode !== 0) throw new Error(`deploy ${args.join(' ')} failed (exit ${exitCode}): ${stderr}`);
  const perHost = (body.hosts as Array<{ host: string; ms: number; outcome: string }>).map((h) => ({ host: h.host, ms: h.ms, outcome: h.outcome }));
  return { label, total: Number(body.elapsedMs), wall, perHost };
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
}

function report(rounds: Round[]): void {
  const widths = [22, 8, 8, 8, 8, 14, 10];
  const lines = [
    `switchyard bench:hosts — N=${n} hosts (sshd on 127.0.0.1, one PM2 daemon each), ${availableParallelism()} CPU cores, node ${process.version}`,
    '',
    row(['deploy', 'total', 'wall', 'slowest', 'sum', 'total/slowest', 'total/sum'], widths),
  ];
  for (const r of rounds) {
    const slowest = Math.max(...r.perHost.map((h) => h.ms));
    const sum = r.perHost.reduce((a, h) => a + h.ms, 0);
    lines.push(row([r.label, `${r.total} ms`, `${Math.round(r.wall)} ms`, `${slowest} ms`, `${sum} ms`, (r.total / slowest).toFixed(2), (r.total / sum).toFixed(2)], widths));
  }
  lines.push('', 'per-host times (ms):', row(['host', ...rounds.map((r) => r.label)], [8, ...rounds.map(() => 22)]));
  for (const [i, h] of rounds[0]!.perHost.entries()) lines.push(row([h.host, ...rounds.map((r) => r.perHost[i]!.ms)], [8, ...rounds.map(() => 22)]));
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  let fleet: SshdFleet | undefined;
  let project: RemoteProject | undefined;
  try {
    const names = Array.from({ length: n }, (_, i) => `h${String(i + 1).padStart(2, '0')}`);
    process.stderr.write(`[bench] starting ${n} sshd hosts\n`);
    fleet = await startSshdHosts(names);
    project = await makeRemoteProject(fleet, { ports: '17500-17699' });
    const parallel = String(Math.max(8, n));
    const rounds: Round[] = [];
    for (const [label, args] of [
      [`1.0.0 cold, -p ${parallel}`, ['1.0.0', '--sync', 'release', '--parallel', parallel]],
      [`1.1.0 warm, -p ${parallel}`, ['1.1.0', '--sync', 'release', '--parallel', parallel]],
      ['1.2.0 warm, -p 1', ['1.2.0', '--sync', 'release', '--parallel', '1']],
    ] as const) {
      process.stderr.write(`[bench] deploy ${args.join(' ')}\n`);
      rounds.push(await deploy(project, label, [...args]));
    }
    report(rounds);
  } finally {
    await project?.cleanup();
    await fleet?.cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
