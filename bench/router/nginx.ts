import { mkdir, writeFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnChild, stopChild, waitFor, httpGet, type Child } from '../util.js';

/**
 * Our own nginx for the comparison rows: never the system service. One
 * master in the foreground (daemon off) with its prefix, pid file, logs and
 * temp folders in a scratch folder, listening on loopback ports only, and
 * one worker process, like the router's one Node process.
 *
 * - proxyPort: proxies by a `map` on the version header to a keep-alive
 *   upstream (the same backend as the router), 404 for any other version.
 * - fixedPort: answers a fixed JSON body the size and shape of a resolve answer.
 */
export interface NginxSetup {
  nginxPath: string;
  dir: string;
  proxyPort: number;
  fixedPort: number;
  backendPort: number;
  version: string;
  fixedBody: string;
  prefix: string[];
}

export function nginxConf(s: NginxSetup): string {
  const p = (name: string) => join(s.dir, name);
  // nginx single-quoted strings: escape backslashes and single quotes.
  const body = s.fixedBody.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return `# written by bench/router.ts; runs in the foreground with -p ${s.dir}
daemon off;
master_process on;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${p('tmp-body')};
  proxy_temp_path ${p('tmp-proxy')};
  fastcgi_temp_path ${p('tmp-fastcgi')};
  uwsgi_temp_path ${p('tmp-uwsgi')};
  scgi_temp_path ${p('tmp-scgi')};
  keepalive_timeout 5s;
  keepalive_requests 100000;

  map $http_x_switchyard_version $switchyard_upstream {
    default "";
    "${s.version}" v_${s.version.replace(/\W/g, '_')};
  }
  upstream v_${s.version.replace(/\W/g, '_')} {
    server 127.0.0.1:${s.backendPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${s.proxyPort};
    location / {
      if ($switchyard_upstream = "") {
        return 404 '{"error":"version_not_served"}';
      }
      proxy_pass http://$switchyard_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
  server {
    listen 127.0.0.1:${s.fixedPort};
    location / {
      default_type "application/json; charset=utf-8";
      add_header cache-control no-store;
      return 200 '${body}';
    }
  }
}
`;
}

export async function startNginx(s: NginxSetup): Promise<Child> {
  await mkdir(s.dir, { recursive: true });
  const conf = join(s.dir, 'nginx.conf');
  await writeFile(conf, nginxConf(s));
  const errFd = openSync(join(s.dir, 'stderr.log'), 'a');
  const args = ['-e', join(s.dir, 'error.log'), '-p', `${s.dir}/`, '-c', conf];
  const [command, ...rest] = [...s.prefix, s.nginxPath, ...args];
  let child: Child;
  try {
    child = await spawnChild('nginx', command!, rest, { stderr: errFd });
  } finally {
    closeSync(errFd);
  }
  try {
    await waitFor('nginx to answer', async () => (await httpGet(`http://127.0.0.1:${s.fixedPort}/`)).status === 200, 10_000);
  } catch (error) {
    await stopNginx(child);
    throw error;
  }
  return child;
}

/** SIGQUIT is nginx's graceful stop; the master takes its worker with it. */
export function stopNginx(child: Child): Promise<void> {
  return stopChild(child, 'SIGQUIT', 3_000);
}
