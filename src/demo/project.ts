import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { canBind } from '../fleet/ports.js';
import { packageFile } from '../package-root.js';
import { PolicyStore } from '../store/policy-store.js';
import { ensureToken } from '../store/token.js';

export const DEMO_SERVICE = 'demo';
export const DEMO_VERSIONS = ['1.0.0', '1.1.0'] as const;
const SAMPLE = packageFile('templates/service/server.mjs');

export interface DemoProject {
  dir: string;
  configFile: string;
  routerUrl: string;
  pm2Home: string;
  stateDir: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Ten consecutive ports that can all be bound now, for the two versions' processes. */
async function freeRange(): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const from = 20_000 + Math.floor(Math.random() * 20_000);
    const checks = await Promise.all(Array.from({ length: 10 }, (_, i) => canBind(from + i, '127.0.0.1')));
    if (checks.every(Boolean)) return { from, to: from + 9 };
  }
  throw new Error('no free range of 10 ports found on 127.0.0.1');
}

/**
 * Writes a complete project for the demo: a config (router on a free port,
 * a short heartbeat so the story fits in a minute, a PM2_HOME of its own in
 * a short /tmp path), and releases 1.0.0 and 1.1.0 of the sample service.
 */
export async function writeDemoProject(dir: string): Promise<DemoProject> {
  const routerPort = await freePort();
  const ports = await freeRange();
  // PM2 puts unix sockets in PM2_HOME; a short path keeps them under the 107-byte limit.
  const pm2Home = join('/tmp', `sy-demo-${randomBytes(4).toString('hex')}`);
  const config = {
    router: { listen: `127.0.0.1:${routerPort}`, mode: 'redirect', heartbeatInterval: '500ms', staleAfter: 3 },
    pm2Home,
    services: {
      [DEMO_SERVICE]: {
        script: 'releases/{version}/server.mjs',
        ports: `${ports.from}-${ports.to}`,
        readiness: { http: '/healthz', timeout: '15s' },
        drain: { grace: 2, timeout: '60s' },
        killTimeout: '3s',
      },
    },
  };
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'switchyard.config.json');
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  for (const version of DEMO_VERSIONS) {
    const release = join(dir, 'releases', version);
    await mkdir(release, { recursive: true });
    // Each release runs the sample service that ships with switchyard; it learns its version from SWITCHYARD_VERSION.
    await writeFile(join(release, 'server.mjs'), `// ${DEMO_SERVICE} ${version}: the sample service from switchyard's templates.\nimport ${JSON.stringify(pathToFileURL(SAMPLE).href)};\n`);
  }
  const stateDir = join(dir, '.switchyard');
  await new PolicyStore(stateDir).init();
  await ensureToken(stateDir);
  return { dir, configFile, routerUrl: `http://127.0.0.1:${routerPort}`, pm2Home, stateDir };
}
