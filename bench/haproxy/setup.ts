import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Policy } from '../../dist/core/policy-schema.js';
import { quotedJson } from '../../dist/haproxy/rules.js';
import { PolicyStore } from '../../dist/store/policy-store.js';
import { ensureToken } from '../../dist/store/token.js';
import { SWITCHYARD_BIN } from '../router/http.js';
import { checked } from '../router/policies.js';
import { httpGet, sleep, spawnChild, stopChild, waitFor, type Child } from '../util.js';

/**
 * What the HAProxy benchmark runs, each pinned by the caller's prefix:
 * switchyard's router with its HAProxy data plane (one HAProxy thread),
 * and a hand-written HAProxy config routing the same version header to
 * the same backends, for "what HAProxy alone does".
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

/** SIGINT ends the router, which leaves its HAProxy serving (as a restart would): that is ended by the pid in its pid file. */
export async function stopSwitchyard(edge: SwitchyardEdge): Promise<void> {
  await stopChild(edge.router, 'SIGINT', 15_000);
  let pid: number | undefined;
  try {
    pid = Number.parseInt(readFileSync(join(edge.haproxyDir, 'haproxy.pid'), 'utf8'), 10);
  } catch {
    return;
  }
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A backend of one version, as the bench starts it. */
export interface VersionBackend {
  version: string;
  port: number;
}

/** The policy of the load rows: one service, one process per version, every version active. */
export function versionsPolicy(backends: VersionBackend[], extra: VersionBackend[] = []): Policy {
  const processes = [...backends, ...extra].map((b) => ({ id: `bench@${b.version}#0`, version: b.version, address: '127.0.0.1', port: b.port, state: 'active' as const }));
  return checked({ schema: 1, generation: 0, services: { bench: { target: backends.at(-1)!.version, processes } } });
}

/**
 * What a person would write to route the version header to one backend per
 * version: one header match per version, a 404 for any other. fixedPort
 * answers every request with `fixedBody` and the resolve answer's headers by
 * `http-request return`: HAProxy's own ceiling for an answer it gives itself.
 */
export function handWrittenConfig(port: number, backends: VersionBackend[], fixedPort: number, fixedBody: string): string {
  const name = (v: string) => `v_${v.replace(/\W/g, '_')}`;
  return `# The hand-written comparison: one backend per version, chosen by the version header.
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${port}
${backends.map((b) => `  use_backend ${name(b.version)} if { req.hdr(x-switchyard-version) -m str ${b.version} }`).join('\n')}
  default_backend not_served
${backends.map((b) => `backend ${name(b.version)}\n  server s1 127.0.0.1:${b.port}`).join('\n')}
backend not_served
  http-request return status 404 content-type application/json string '{"error":"version_not_served"}'
frontend fixed
  bind 127.0.0.1:${fixedPort}
  http-request return status 200 content-type "application/json; charset=utf-8" hdr cache-control no-store string ${quotedJson(fixedBody)}
`;
}

export async function startHandWritten(dir: string, haproxyPath: string, ports: { proxy: number; fixed: number }, backends: VersionBackend[], fixedBody: string, prefix: string[]): Promise<Child> {
  const port = ports.proxy;
  await mkdir(dir, { recursive: true });
  const cfg = join(dir, 'hand.cfg');
  await writeFile(cfg, handWrittenConfig(port, backends, ports.fixed, fixedBody));
  const errFd = openSync(join(dir, 'hand.log'), 'a');
  let child: Child;
  try {
    const [command, ...args] = [...prefix, haproxyPath, '-f', cfg];
    child = await spawnChild('haproxy (hand-written)', command!, args, { stderr: errFd });
  } finally {
    closeSync(errFd);
  }
  await waitFor('the hand-written HAProxy to answer', async () => (await httpGet(`http://127.0.0.1:${port}/`, { 'x-switchyard-version': backends[0]!.version })).status === 200, 10_000);
  return child;
}
