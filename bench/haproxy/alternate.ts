import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadResult } from '../router/load.js';

/**
 * wrk with a Lua script that alternates the version header from one
 * request to the next, so every proxy under test routes two versions to
 * two backends the way a fleet in the middle of a rollout does (bench/
 * router/load.ts sends one header set for a whole run). Bounded in time;
 * the summary comes back as one JSON line.
 */

export interface AlternatingSpec {
  url: string;
  header: string;
  versions: string[];
  connections: number;
  durationS: number;
}

function script(spec: AlternatingSpec): string {
  // JSON string literals of ASCII text are valid Lua string literals.
  return `local versions = {${spec.versions.map((v) => JSON.stringify(v)).join(', ')}}
local n = #versions
local i = 0
request = function()
  i = i % n + 1
  return wrk.format("GET", nil, {[${JSON.stringify(spec.header)}] = versions[i]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('ALTJSON %d %d %.1f %.1f %d %d\\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

export function alternatingWrk(wrkPath: string, scratchDir: string, prefix: string[]): (spec: AlternatingSpec) => Promise<LoadResult> {
  let seq = 0;
  return async (spec) => {
    const file = join(scratchDir, `alternate-${++seq}.lua`);
    await writeFile(file, script(spec));
    const seconds = Math.max(1, Math.round(spec.durationS));
    const [command, ...args] = [...prefix, wrkPath, '-t', '1', '-c', String(spec.connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', file, spec.url];
    const stdout = await new Promise<string>((done, fail) => {
      execFile(command!, args, { timeout: (seconds + 20) * 1000, maxBuffer: 1 << 20 }, (error, out, err) => (error ? fail(new Error(`wrk failed: ${error.message}\n${err}`)) : done(out)));
    });
    const line = stdout.split('\n').find((l) => l.startsWith('ALTJSON '));
    if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout}`);
    const [requests, durationUs, p50, p99, socketErrors, non2xx] = line.slice('ALTJSON '.length).split(' ').map(Number) as [number, number, number, number, number, number];
    return { tool: 'wrk', requests, rps: requests / (durationUs / 1e6), p50ms: p50 / 1000, p99ms: p99 / 1000, socketErrors, non2xx };
  };
}
