import { parseDuration } from '../../core/duration.js';
import { failedError, usageError } from '../../core/errors.js';
import { runDemo } from '../../demo/run-demo.js';
import { describeTries, loginTries, requestTries } from '../../demo/tries.js';
import type { CommandModule } from '../commands.js';

function terminalCount(value: unknown): number {
  const n = Number(value ?? 50);
  if (!Number.isInteger(n) || n < 1 || n > 2000) throw usageError('invalid_terminals', `--terminals takes a whole number from 1 to 2000, got ${JSON.stringify(value)}.`);
  return n;
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const terminals = terminalCount(options.terminals);
  const durationMs = parseDuration(String(options.duration ?? '20s'), '--duration');
  if (durationMs < 4000) throw usageError('invalid_duration', '--duration must be at least 4s: the rollout happens a quarter of the way in.');
  const tty = process.stderr.isTTY === true && !ctx.out.json;
  let lastFrameLines = 0;
  const summary = await runDemo({
    dir: options.dir as string | undefined,
    terminals,
    durationMs,
    keep: options.keep === true,
    tty,
    say: (line) => {
      lastFrameLines = 0;
      ctx.out.info(line);
    },
    frame: (text) => {
      if (ctx.out.json) return;
      // On a terminal the table is redrawn in place; elsewhere each frame is one line.
      if (tty && lastFrameLines > 0) process.stderr.write(`\u001b[${lastFrameLines}A\u001b[0J`);
      process.stderr.write(`${text}\n`);
      lastFrameLines = tty ? text.split('\n').length : 0;
    },
  });
  const lines = [
    '',
    `summary: ${summary.terminals} terminals, ${(summary.totalMs / 1000).toFixed(1)}s in all`,
    `  ${describeTries('requests', requestTries(summary))}`,
    `  ${describeTries('logins', loginTries(summary))}`,
    `  sessions         ${summary.sessionsCompleted} completed, ${summary.sessionsCutOff} cut off (${summary.sessionsOpened} opened)`,
    `  upgrades         ${summary.upgradesFollowed} version changes followed`,
    `  rollout          ${summary.newVersion} deployed in ${summary.deployMs} ms; ${summary.oldVersion} ${summary.oldRetired ? `retired at ${((summary.oldRetiredAfterMs ?? 0) / 1000).toFixed(1)}s` : 'NOT retired'}`,
    `  clean-up         ${summary.kept ? `kept: ${summary.dir}` : 'router, processes and PM2 daemon stopped; files removed'}`,
  ];
  if (summary.failures.length > 0) lines.push('  first problems:', ...summary.failures.map((f) => `    ${f}`));
  if (summary.retried.length > 0) lines.push('  first retries:', ...summary.retried.map((r) => `    ${r}`));
  ctx.out.info(lines.join('\n'));
  ctx.out.result(summary);
  if (!summary.ok) {
    throw failedError('demo_failed', `The demo saw ${summary.requestsFailed} failed requests, ${summary.sessionsCutOff} sessions cut off, ${summary.loginsFailed} failed logins${summary.oldRetired ? '' : `, and ${summary.oldVersion} was not retired`}.`);
  }
};
