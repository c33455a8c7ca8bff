import { failedError } from '../core/errors.js';
import type { FleetProcess } from './fleet.js';
import { toProcess } from './pm2-client.js';

/**
 * Reads the output of `pm2 jlist`. PM2 prints the list as one line of JSON,
 * but a call that had to start the daemon first prints its banner and
 * "[PM2] Spawning..." lines before it (and those start with "[" too), so the
 * list is the last line that parses as a JSON array.
 */
export function parseJlist(stdout: string, host: string): FleetProcess[] {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i]!.trim();
    if (!line.startsWith('[') || !line.endsWith(']')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(parsed)) continue;
    return parsed
      .filter((raw): raw is Record<string, unknown> => typeof raw === 'object' && raw !== null && typeof (raw as { name?: unknown }).name === 'string')
      .map((raw) => {
        const p = toProcess(raw);
        return { id: p.name, pid: Number.isFinite(p.pid) ? p.pid : 0, status: p.status, cpu: p.cpu || 0, memory: p.memory || 0, uptimeMs: p.uptimeMs, restarts: p.restarts || 0, ...(Number.isInteger(p.pmId) ? { pmId: p.pmId } : {}) };
      });
  }
  const shown = stdout.trim().split('\n').slice(-2).join(' | ').slice(0, 200);
  throw failedError('pm2_output_unreadable', `pm2 jlist on host ${host} printed no process list${shown ? ` (it said: ${shown})` : ''}`, { host });
}
