import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Policy } from '../../dist/core/policy-schema.js';
import { quotedJson } from '../../dist/haproxy/rules.js';
import { PolicyStore } from '../../dist/store/policy-store.js';
import { ensureToken } from '../../dist/store/token.js';
import { SWITCHYARD_BIN } from '../router/http.js';
import { httpGet, sleep, spawnChild, stopChild, waitFor, type Child } from '../util.js';

/**
 * What the HAProxy benchmark runs, each pinned by the caller's prefix:
 * switchyard's router with its HAProxy data plane (one HAProxy thread),
 * and a hand-written HAProxy config routing the same version header to
 * the same backend, for "what HAProxy alone does".
 */

export interface SwitchyardEdge {
  router: Child;
  routerUrl: string;
  edgeUrl: string;
  store: PolicyStore;
  generation: number;
  haproxyDir: string;
}

export async function startSwitchyard(dir: string, ports: { router: number; edge: number }, first: Policy, prefix: string[]): Promise<SwitchyardEdge> {
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { recursive: true });
  const config = [
    'router:',
    `  listen: 127.0.0.1:${ports.router}`,
    '  mode: proxy',
    '  dataPlane: haproxy',
    `  haproxy: { listen: 127.0.0.1:${ports.edge}, threads: 1 }`,
    'state: state',
    `pm2Home: ${join(dir, 'pm2')}`,
    'services:',
    '  bench:',
    '    script: backend.js',
    '    ports: 20000-20099',
    '',
  ].join('\n');
  await writeFile(join(dir, 'switchyard.config.yaml'), config);
  const store = new PolicyStore(stateDir);
  await store.init();
  const written = await store.write(first, (await store.read()).generation);
  await ensureToken(stateDir);
  const errFd = openSync(join(dir, 'router.log'), 'a');
  let router: Child;
  try {
    const [command, ...args] = [...prefix, process.execPath, SWITCHYARD_BIN, 'router', 'run', '--config', join(dir, 'switchyard.config.yaml')];
    router = await spawnChild('router', command!, args, { stderr: errFd, env: { ...process.env, PM2_HOME: join(dir, 'pm2'), NO_COLOR: '1' } });
  } finally {
    closeSync(errFd);
  }
  const edge: SwitchyardEdge = { router, routerUrl: `http://127.0.0.1:${ports.router}`, edgeUrl: `http://127.0.0.1:${ports.edge}`, store, generation: written.generation, haproxyDir: join(stateDir, 'haproxy') };
  try {
    await waitFor('HAProxy to route by the first policy', async () => (await httpGet(`${edge.edgeUrl}/`, { 'x-switchyard-version': '1.0.0' })).status === 200, 30_000);
  } catch (error) {
    await stopSwitchyard(edge);
    throw new Error(`${(error as Error).message}; see ${join(dir, 'router.log')}`);
  }
  return edge;
}

/** SIGINT: the router stops its HAProxy; one it left behind is ended by the pid in its pid file. */
export async function stopSwitchyard(edge: SwitchyardEdge): Promise<void> {
  await stopChild(edge.router, 'SIGINT', 15_000);
  let pid: number | undefined;
  try {
    pid = Number.parseInt(readFileSync(join(edge.haproxyDir, 'haproxy.pid'), 'utf8'), 10);
  } catch {
    return;
  }
  try {
    process.kill(pid, 0);
  } catch {
    return;
  }
  process.kill(pid, 'SIGTERM');
  await sleep(500);
}

/**
 * fixedPort answers every request with \`fixedBody\` and the resolve answer's headers by
 * \`http-request return\`: HAProxy's own ceiling for an answer it gives itself.
 */
export function handWrittenConfig(port: number, backendPort: number, version: string, fixedPort: number, fixedBody: string): string {
  return `# The hand-written comparison: what a person would write for one version on one backend.
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${port}
  acl v_known req.hdr(x-switchyard-version) -m str ${version}
  http-request return status 404 content-type application/json string '{"error":"version_not_served"}' if !v_known
  use_backend v1 if v_known
backend v1
  server s1 127.0.0.1:${backendPort}
frontend fixed
  bind 127.0.0.1:${fixedPort}
  http-request return status 200 content-type "application/json; charset=utf-8" hdr cache-control no-store string ${quotedJson(fixedBody)}
`;
}

export async function startHandWritten(dir: string, haproxyPath: string, ports: { proxy: number; fixed: number }, backendPort: number, version: string, fixedBody: string, prefix: string[]): Promise<Child> {
  const port = ports.proxy;
  await mkdir(dir, { recursive: true });
  const cfg = join(dir, 'hand.cfg');
  await writeFile(cfg, handWrittenConfig(port, backendPort, version, ports.fixed, fixedBody));
  const errFd = openSync(join(dir, 'hand.log'), 'a');
  let child: Child;
  try {
    const [command, ...args] = [...prefix, haproxyPath, '-f', cfg];
    child = await spawnChild('haproxy (hand-written)', command!, args, { stderr: errFd });
  } finally {
    closeSync(errFd);
  }
  await waitFor('the hand-written HAProxy to answer', async () => (await httpGet(`http://127.0.0.1:${port}/`, { 'x-switchyard-version': version })).status === 200, 10_000);
  return child;
}
