import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning, waitExit } from './child-processes.js';
import { freePort } from './free-port.js';

/**
 * A real redis-server for the Redis suites: a free port on 127.0.0.1, a
 * temp folder, AOF on with `appendfsync always` (the setting the docs give
 * for the policy's durability), killed by pid. `restart()` starts it again
 * on the same port and folder, so it reloads from its AOF.
 *
 *   const available = redisServerAvailable();   // describe.skipIf(!available)
 *   const redis = await startRedis();
 *   redis.url                                   // redis://127.0.0.1:<port>/0
 *   await redis.kill('SIGKILL'); await redis.restart();
 *   await redis.stop();                         // kills by pid, removes the folder
 */

const BINARY = 'redis-server';

export function redisServerAvailable(): boolean {
  const found = spawnSync(BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
  // One visible line, never a silent pass.
  if (!found) console.warn(`skipping: install ${BINARY} (apt-get install redis-server)`);
  return found;
}

export interface RedisServer {
  port: number;
  dir: string;
  url: string;
  pid(): number | undefined;
  alive(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  log(): Promise<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** TLS files for a server started with `tls` (see tlsFiles in redis-tls.ts). */
export interface RedisTls {
  cert: string;
  key: string;
  ca: string;
}

/** True once the server answers PING with PONG (not LOADING or an error). */
export function pingRedis(port: number, timeoutMs = 500, tls?: RedisTls): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls === undefined ? connect({ host: '127.0.0.1', port }) : tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(tls.ca) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) if (isRunning(child)) child.kill('SIGKILL');
});

/**
 * A Sentinel watching `master` as "mymaster" (quorum 1): `url` is then the
 * redis-sentinel:// URL of the master behind it.
 */
export async function startSentinel(master: RedisServer): Promise<RedisServer> {
  const server = await startRedis({ sentinelOf: master.port });
  return { ...server, url: `redis-sentinel://127.0.0.1:${server.port}/0?name=mymaster` };
}

export async function startRedis(opts: { sentinelOf?: number; tls?: RedisTls } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const listen = opts.tls === undefined
    ? ['--port', String(port)]
    : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key, '--tls-ca-cert-file', opts.tls.ca, '--tls-auth-clients', 'no'];
  const common = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--logfile', join(dir, 'redis.log')];
  // A Sentinel rewrites its config file, so it gets one of its own.
  const sentinelConfig = join(dir, 'sentinel.conf');
  if (opts.sentinelOf !== undefined) await writeFile(sentinelConfig, `sentinel monitor mymaster 127.0.0.1 ${opts.sentinelOf} 1\n`);
  const args = opts.sentinelOf === undefined
    ? [...common, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : [sentinelConfig, '--sentinel', ...common];

  const launch = async () => {
    child = spawn(BINARY, args, { stdio: 'ignore' });
    live.add(child);
    const started = child;
    started.once('exit', () => live.delete(started));
    const deadline = Date.now() + 15_000;
    while (!(await pingRedis(port, 500, opts.tls))) {
      if (!isRunning(started)) throw new Error(`redis-server exited at start: ${await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '')}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 15 s`);
      await sleep(20);
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child === undefined || !isRunning(child)) return;
    const gone = waitExit(child);
    child.kill(signal);
    await gone;
  };

  await launch();
  return {
    port,
    dir,
    url: `${opts.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}/0`,
    pid: () => child?.pid,
    alive: () => child !== undefined && isRunning(child),
    kill,
    restart: launch,
    stop: async () => {
      await kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(join(dir, 'redis.log'), 'utf8'),
  };
}
