import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * HTTP load for one target, bounded in time: wrk when it is installed
 * (a Lua script sets the headers and prints the summary as JSON), otherwise
 * autocannon in this process.
 */

export interface LoadSpec {
  /** Full URL of the first request. */
  url: string;
  headers: Record<string, string>;
  /** Request paths cycled through, instead of the URL's path alone. */
  paths?: string[];
  connections: number;
  threads: number;
  durationS: number;
}

export interface LoadResult {
  tool: 'wrk' | 'autocannon';
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
  /** Answers that were not 2xx or 3xx. */
  non2xx: number;
  /** Share of the machine's CPU that processes outside the benchmark used during this run (set by the caller). */
  othersShare?: number;
}

export interface LoadTool {
  name: 'wrk' | 'autocannon';
  version: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

function luaString(s: string): string {
  return JSON.stringify(s); // a JSON string literal of ASCII text is a valid Lua string literal
}

function wrkScript(spec: LoadSpec): string {
  const lines = Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  if (spec.paths !== undefined && spec.paths.length > 0) {
    lines.push(`local paths = {${spec.paths.map(luaString).join(',\n')}}`);
    lines.push('local n = #paths');
    lines.push('local i = math.random(n) - 1');
    lines.push('request = function()\n  i = i % n + 1\n  return wrk.format(nil, paths[i])\nend');
  }
  lines.push(`done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end`);
  return `${lines.join('\n')}\n`;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  p50_us: number;
  p99_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
}

export function wrkTool(wrkPath: string, version: string, scratchDir: string, prefix: string[] = []): LoadTool {
  let seq = 0;
  return {
    name: 'wrk',
    version,
    async run(spec) {
      const script = join(scratchDir, `load-${++seq}.lua`);
      await writeFile(script, wrkScript(spec));
      // wrk takes whole seconds.
      const seconds = Math.max(1, Math.round(spec.durationS));
      const args = ['-t', String(spec.threads), '-c', String(spec.connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', script, spec.url];
      const [command, ...rest] = prefix.length > 0 ? [...prefix, wrkPath, ...args] : [wrkPath, ...args];
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(command!, rest, { timeout: (spec.durationS + 20) * 1000, maxBuffer: 1 << 20 }, (error, out, err) => {
          if (error) reject(new Error(`wrk failed: ${error.message}\n${err}`));
          else resolve(out);
        });
      });
      const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout}`);
      const j = JSON.parse(line.slice('WRKJSON '.length)) as WrkJson;
      return {
        tool: 'wrk',
        requests: j.requests,
        rps: j.requests / (j.duration_us / 1e6),
        p50ms: j.p50_us / 1000,
        p99ms: j.p99_us / 1000,
        socketErrors: j.connect + j.read + j.write + j.timeout,
        non2xx: j.status,
      };
    },
  };
}

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** autocannon (a devDependency), or undefined when it cannot be loaded. */
export async function autocannonTool(): Promise<LoadTool | undefined> {
  let run: Autocannon;
  let version = '?';
  try {
    // A specifier in a variable: autocannon ships no types, and this keeps it optional.
    const specifier = 'autocannon';
    const mod = (await import(specifier)) as { default: Autocannon };
    run = mod.default;
    const { createRequire } = await import('node:module');
    version = (createRequire(import.meta.url)('autocannon/package.json') as { version: string }).version;
  } catch {
    return undefined;
  }
  return {
    name: 'autocannon',
    version,
    async run(spec) {
      const u = new URL(spec.url);
      const requests = spec.paths?.map((path) => ({ method: 'GET', path }));
      const result = await run({
        url: requests === undefined ? spec.url : u.origin,
        ...(requests === undefined ? {} : { requests }),
        headers: spec.headers,
        connections: spec.connections,
        duration: spec.durationS,
        timeout: 5,
      });
      return {
        tool: 'autocannon',
        requests: result.requests.total,
        rps: result.requests.total / result.duration,
        p50ms: result.latency.p50,
        p99ms: result.latency.p99,
        socketErrors: result.errors + result.timeouts,
        non2xx: result.non2xx,
      };
    },
  };
}
