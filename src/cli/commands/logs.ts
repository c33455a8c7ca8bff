import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import { usageError } from '../../core/errors.js';
import type { ProcessEntry } from '../../core/policy-schema.js';
import { servicePolicy } from '../../core/policy-query.js';
import { checkVersion } from '../../core/version.js';
import type { Fleet } from '../../fleet/fleet.js';
import { FleetSet } from '../../fleet/fleets.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';
import { pickService } from '../service.js';

/**
 * `switchyard logs [version]`: what PM2 logged for each process of a version
 * (default: the target), on every host, each line prefixed with its process
 * id. `--follow` keeps printing new lines until Ctrl-C.
 */

const DEFAULT_LINES = 50;

function parseLines(value: unknown): number {
  if (value === undefined) return DEFAULT_LINES;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw usageError('invalid_lines', `--lines ${JSON.stringify(value)}: expected a whole number from 1 to 100000.`);
  return n;
}

interface HostLogs {
  id: string;
  host: string;
  lines: string[];
  error?: string;
}

type LogReader = Pick<Fleet, 'logTail' | 'followLog'>;

/** A host's logs: through its fleet, or, on this machine with no PM2 daemon (after `down`), from the files PM2 left. */
async function fleetOf(fleets: FleetSet, config: Config, host: string): Promise<LogReader> {
  const fleet = await fleets.get(host);
  if (fleet !== undefined) return fleet;
  if (config.hosts[host]?.local !== true) throw new Error(`no PM2 daemon runs for host ${host}`);
  const { followFile } = await import('../../fleet/log-follow.js');
  const { localLogFile, tailOf } = await import('../../fleet/local-fleet.js');
  const file = (id: string) => localLogFile(join(config.stateDir, 'logs'), id);
  return {
    logTail: (id, lines) => tailOf(file(id), lines),
    followLog: (id, lines, onLine, signal) => followFile(file(id), lines, onLine, signal),
  };
}

async function tails(fleets: FleetSet, config: Config, processes: ProcessEntry[], lines: number): Promise<HostLogs[]> {
  return Promise.all(processes.map(async (p): Promise<HostLogs> => {
    try {
      const text = await (await fleetOf(fleets, config, p.host)).logTail(p.id, lines);
      return { id: p.id, host: p.host, lines: text === '' ? [] : text.split('\n') };
    } catch (error) {
      return { id: p.id, host: p.host, lines: [], error: error instanceof Error ? error.message : String(error) };
    }
  }));
}

/** Follows every process's log at once until SIGINT or SIGTERM; one host failing does not stop the others. */
async function follow(ctx: Context, fleets: FleetSet, config: Config, processes: ProcessEntry[], lines: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await Promise.all(processes.map(async (p) => {
      try {
        const fleet = await fleetOf(fleets, config, p.host);
        if (fleet.followLog === undefined) throw new Error(`host ${p.host} cannot follow logs`);
        await fleet.followLog(p.id, lines, (line) => ctx.out.print(`${p.id} | ${line}`), stop.signal);
      } catch (error) {
        ctx.out.warn(`${p.id} on ${p.host}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const lines = parseLines(options.lines);
  if (options.follow === true && ctx.options.json === true) {
    throw usageError('follow_with_json', '--follow prints lines as they come and --json prints one document at the end: use one of them.');
  }
  const { loaded, store } = await openProject(ctx);
  const service = pickService(ctx, loaded.config);
  const policy = await store.read();
  const entry = servicePolicy(policy, service.name);
  const version = args[0] === undefined ? entry.target : checkVersion(args[0]);
  if (version === null || version === undefined) throw usageError('no_target', `${service.name} has no target version yet: name a version (switchyard logs <version>).`);
  const processes = entry.processes.filter((p) => p.version === version);
  if (processes.length === 0) {
    const known = [...new Set(entry.processes.map((p) => p.version))];
    throw usageError('version_not_deployed', `${service.name} ${version} has no processes in the policy${known.length > 0 ? ` (versions there: ${known.join(', ')})` : ''}.`, { version, known });
  }

  const fleets = new FleetSet(loaded.config, false);
  try {
    if (options.follow === true) {
      ctx.out.info(`following the logs of ${service.name} ${version} (${processes.map((p) => `${p.id} on ${p.host}`).join(', ')}); Ctrl-C to stop`);
      await follow(ctx, fleets, loaded.config, processes, lines);
      return;
    }
    const logs = await tails(fleets, loaded.config, processes, lines);
    for (const log of logs) {
      if (log.error !== undefined) ctx.out.warn(`${log.id} on ${log.host}: ${log.error}`);
      for (const line of log.lines) ctx.out.print(`${log.id} | ${line}`);
    }
    ctx.out.result({ ok: true, service: service.name, version, processes: logs.map((l) => ({ id: l.id, host: l.host, lines: l.lines, ...(l.error === undefined ? {} : { error: l.error }) })) });
  } finally {
    await fleets.closeAll();
  }
};
