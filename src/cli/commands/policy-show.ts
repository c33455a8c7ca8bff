import chalk from 'chalk';
import type { Policy, ProcessEntry } from '../../core/policy-schema.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { renderTable } from '../table.js';

const STATE_COLOURS: Record<string, (s: string) => string> = {
  active: chalk.green,
  starting: chalk.cyan,
  draining: chalk.yellow,
  retired: chalk.dim,
  failed: chalk.red,
};

function processRow(p: ProcessEntry): string[] {
  const colour = STATE_COLOURS[p.state] ?? ((s: string) => s);
  return [p.id, p.version, p.host, `${p.address}:${p.port}`, colour(p.state), p.since ?? '-', p.drainDeadline ?? '-'];
}

export function renderPolicy(policy: Policy, only?: string): string {
  const lines = [`generation ${policy.generation}${policy.updatedAt ? `, updated ${policy.updatedAt}` : ''}`];
  const names = Object.keys(policy.services).filter((name) => only === undefined || name === only);
  if (names.length === 0) lines.push(only === undefined ? 'no services yet: run `switchyard deploy <version>`' : `no service named ${only}`);
  for (const name of names) {
    const s = policy.services[name]!;
    const canary = s.canary ? `, canary ${s.canary.version} at ${s.canary.weight}%` : '';
    lines.push('', `${chalk.bold(name)}: target ${s.target ?? '(none)'}${canary}, match ${s.match}, login ${s.login}`);
    if (s.processes.length === 0) lines.push('  no processes');
    else lines.push(renderTable([['process', 'version', 'host', 'address', 'state', 'since', 'drain deadline'], ...s.processes.map(processRow)], '  '));
  }
  return lines.join('\n');
}

export const run: CommandModule['run'] = async (ctx) => {
  const { store } = await openProject(ctx);
  const policy = await store.read();
  ctx.out.result(policy);
  if (!ctx.out.json) ctx.out.print(renderPolicy(policy, ctx.options.service));
};
