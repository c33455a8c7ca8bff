import { signAsCli } from '../protocol/signing.js';
import { cachedEndpoint, findConfigPath } from './endpoint-cache.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusBody } from '../protocol/status-body.js';
import type { GlobalOptions } from './context.js';
import { plainGetJson } from './plain-get.js';
import { statusDocument } from './status-print.js';

/**
 * `switchyard status` in one HTTP call, without commander, zod, yaml or
 * cosmiconfig: the router's URL and the state folder come from the endpoint
 * remembered at the last full load of this very config (endpoint-cache.ts).
 * Anything unusual (other flags, no remembered endpoint, no token, the
 * router not answering, a service it does not know) returns false and the
 * full command runs instead, with its checks and its messages. Under --json
 * it loads neither node:http nor chalk: each costs a few per cent of Node's
 * own start-up, and the target leaves about fifteen.
 */

/** The token as the store keeps it; anything odd is left to the full path's checks and messages. */
function plainToken(stateDir: string): string | undefined {
  try {
    const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
    return /^[0-9a-f]{32,}$/.test(token) ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The flags the fast path understands; undefined for anything else. */
export function parseStatusArgs(args: string[]): GlobalOptions | undefined {
  if (args[0] !== 'status') return undefined;
  const options: GlobalOptions = {};
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--json' && inline === undefined) options.json = true;
    else if (flag === '--verbose' && inline === undefined) options.verbose = true;
    else if ((flag === '--yes' || flag === '-y') && inline === undefined) options.yes = true;
    else if (flag === '--config' || flag === '--service') {
      const value = inline ?? args[++i];
      if (value === undefined || value === '' || value.startsWith('-')) return undefined;
      options[flag === '--config' ? 'config' : 'service'] = value;
    } else return undefined;
  }
  return options;
}

export async function fastStatus(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<boolean> {
  const options = parseStatusArgs(argv.slice(2));
  if (options === undefined) return false;
  const filepath = findConfigPath(cwd, options.config);
  const endpoint = filepath === undefined ? undefined : cachedEndpoint(filepath, env, cwd);
  if (endpoint === undefined) return false;
  const token = plainToken(endpoint.stateDir);
  if (token === undefined) return false;
  const answer = await plainGetJson(endpoint.routerUrl, '/v1/status', signAsCli(token, 'GET', '/v1/status'), 2000);
  const body = answer?.status === 200 ? (answer.body as StatusBody) : undefined;
  if (body?.services === undefined) return false;
  if (options.service !== undefined && body.services[options.service] === undefined) return false;
  const shown = { body, routerUp: true, url: endpoint.routerUrl, watch: false };
  if (options.json === true) {
    process.stdout.write(statusDocument(options.service, shown));
    return true;
  }
  const [{ createContext }, { printStatus }] = await Promise.all([import('./context.js'), import('./status-print.js')]);
  await printStatus(createContext(options, { stdinIsTTY: process.stdin.isTTY === true, cwd, env }), shown);
  return true;
}
