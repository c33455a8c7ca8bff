import type { ListenAddress } from '../config/schema.js';
import { indexPolicy, matchKey } from '../core/policy-index.js';
import type { Policy } from '../core/policy-schema.js';

/**
 * The policy as nginx configuration, for people who run their own nginx
 * (`switchyard export nginx`): `map`s that read the version and service
 * from the same carriers as the router, a `map` from (service, version) to
 * an upstream, and one `upstream` per served version. It goes in nginx's
 * `http` block; with `listen` a `server` block that uses it is added too.
 * Pure: the caller prints it.
 */

export interface NginxExportOptions {
  versionHeader: string;
  serviceHeader: string;
  /** Where the router listens: its own endpoints are sent there. */
  router: ListenAddress;
  /** Adds a server block listening here. */
  listen?: ListenAddress;
}

const headerVar = (name: string) => `$http_${name.toLowerCase().replace(/-/g, '_')}`;
const regexEscape = (s: string) => s.replace(/[.+*?^$()[\]{}|\\]/g, '\\$&');
// nginx unescapes \\ and \" inside double quotes; a "$" in a map key is not a variable, so it stays as written.
const quoted = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

function hostPort(a: ListenAddress, wildcardToLoopback: boolean): string {
  let host = a.host;
  if (wildcardToLoopback && host === '0.0.0.0') host = '127.0.0.1';
  if (wildcardToLoopback && host === '::') host = '::1';
  return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/** A regex for the terminal versions a match key covers (core/policy-index.ts matchKey). */
function keyRegex(rule: 'patch' | 'minor', key: string): string {
  // The head is digits and dots, so the first "-" separates it from the prerelease.
  const dash = key.indexOf('-');
  const head = key.slice(0, dash);
  const pre = key.slice(dash + 1);
  const rest = rule === 'patch' ? '\\.(0|[1-9][0-9]*)' : '\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)';
  const buildAndEnd = '(\\+[0-9A-Za-z.-]+)?$';
  return `${regexEscape(head)}${rest}${pre === '' ? '' : `-${regexEscape(pre)}`}${buildAndEnd}`;
}

export function nginxConfig(policy: Policy, o: NginxExportOptions): string {
  const index = indexPolicy(policy);
  const routes: string[] = [];
  const upstreams: string[] = [];
  let n = 0;
  for (const svc of index.services.values()) {
    const names = new Map<string, string>();
    for (const [version, entry] of svc.versions) {
      const name = `sy_${svc.name.replace(/-/g, '_')}_${n++}`;
      names.set(version, name);
      routes.push(`    ${quoted(`${svc.name}|${version}`)} ${name};`);
      // Where requests go, as the router sends them: active processes while there are any.
      upstreams.push(`# ${svc.name} ${version}`, `upstream ${name} {`, ...entry.requestPool.map((p) => `    server ${hostPort({ host: p.address, port: p.port }, false)};`), '    keepalive 32;', '}');
    }
    if (svc.match === 'exact') continue;
    for (const [key, entries] of svc.servingByKey) {
      const version = (svc.activeByKey.get(key)?.[0] ?? entries[0]!).version;
      routes.push(`    ${quoted(`~^${regexEscape(svc.name)}\\|${keyRegex(svc.match, key)}`)} ${names.get(version)};`);
    }
  }
  const only = index.services.size === 1 ? [...index.services.keys()][0]! : undefined;
  const lines = [
    `# switchyard routing policy, generation ${policy.generation}: written by \`switchyard export nginx\`; include it in nginx's http block.`,
    '# The version: header, then the query parameter switchyard-version, then the cookie switchyard-version.',
    'map $args $sy_version_arg {',
    '    default "";',
    '    "~(^|&)switchyard-version=(?<v>[^&]*)" $v;',
    '}',
    'map $http_cookie $sy_version_cookie {',
    '    default "";',
    '    "~(^|;\\s*)switchyard-version=(?<v>[^;]*)" $v;',
    '}',
    `map "${headerVar(o.versionHeader)}|$sy_version_arg|$sy_version_cookie" $sy_version {`,
    '    default "";',
    '    "~^(?<v>[^|]+)\\|" $v;',
    '    "~^\\|(?<v>[^|]+)\\|" $v;',
    '    "~^\\|\\|(?<v>.+)$" $v;',
    '}',
    `map ${headerVar(o.serviceHeader)} $sy_service {`,
    `    default ${headerVar(o.serviceHeader)};`,
    ...(only === undefined ? [] : [`    "" ${quoted(only)};`]),
    '}',
    'map "$sy_service|$sy_version" $sy_upstream {',
    '    default "";',
    ...routes,
    '}',
    'map $http_upgrade $sy_connection {',
    '    default upgrade;',
    '    "" "";',
    '}',
    'upstream sy_router {',
    `    server ${hostPort(o.router, true)};`,
    '    keepalive 8;',
    '}',
    ...upstreams,
  ];
  if (o.listen !== undefined) lines.push(...serverBlock(o.listen));
  return `${lines.join('\n')}\n`;
}

function serverBlock(listen: ListenAddress): string[] {
  const proxied = ['        proxy_http_version 1.1;', '        proxy_set_header Host $host;', '        proxy_set_header Upgrade $http_upgrade;', '        proxy_set_header Connection $sy_connection;', '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'];
  return [
    'server {',
    `    listen ${hostPort(listen, false)};`,
    '    location ~ ^/(v1/|ui/|ui$|metrics$|healthz$) {',
    '        proxy_pass http://sy_router;',
    ...proxied,
    '    }',
    '    location / {',
    // No version, or one the policy does not serve: the router answers with its own error.
    '        if ($sy_upstream = "") {',
    '            proxy_pass http://sy_router;',
    '        }',
    '        proxy_pass http://$sy_upstream;',
    ...proxied,
    '    }',
    '}',
  ];
}
