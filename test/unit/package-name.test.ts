import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The name people install and import must be the one package.json publishes:
 * every `npm install <name>` and every `from '<name>/...'` in the README,
 * init's advice, the templates and the docs names package.json's name.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string>; exports: Record<string, string> };

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(join(ROOT, path)).isDirectory() ? files(path) : [path];
  });
}

const SOURCES = ['README.md', 'src/cli/commands/init.ts', ...files('templates'), ...files('docs').filter((f) => f.endsWith('.md'))];

/** Every package name after `npm install` / `npm i` (flags skipped), and every bare import of an SDK subpath. */
function namesIn(text: string): string[] {
  const installs = [...text.matchAll(/npm (?:install|i|add)((?: +[^\s`'"|;&]+)+)/g)].flatMap((m) => m[1]!.trim().split(/ +/).filter((w) => !w.startsWith('-') && !w.includes('.tgz') && !w.startsWith('<')).map((w) => w.replace(/(?<=^@?[^@]+)@.*$/, '')));
  const imports = [...text.matchAll(/(?:from|import\(?) *['"]([^'"./][^'"]*)\/(heartbeat|client)['"]/g)].map((m) => m[1]!);
  return [...installs, ...imports];
}

describe('the package name', () => {
  it('is not the npm name someone else holds, and the command stays switchyard', () => {
    expect(pkg.name).toBe('switchyard-cli');
    expect(Object.keys(pkg.bin)).toEqual(['switchyard']);
    expect(pkg.exports['./heartbeat']).toBeDefined();
    expect(pkg.exports['./client']).toBeDefined();
  });

  it('README, init, templates and docs install and import that name', () => {
    const seen = new Map<string, string[]>();
    for (const file of SOURCES) {
      for (const name of namesIn(readFileSync(join(ROOT, file), 'utf8'))) seen.set(file, [...(seen.get(file) ?? []), name]);
    }
    const wrong = [...seen].flatMap(([file, names]) => names.filter((n) => n.startsWith('switchyard') && n !== pkg.name).map((n) => `${file}: ${n}`));
    expect(wrong).toEqual([]);
    // The places that must name it do.
    for (const file of ['README.md', 'src/cli/commands/init.ts', 'templates/service/server.mjs']) {
      expect(seen.get(file) ?? [], file).toContain(pkg.name);
    }
  });

  it('the old name is caught', () => {
    expect(namesIn("npm install switchyard ws\nimport { x } from 'switchyard/heartbeat';")).toEqual(['switchyard', 'ws', 'switchyard']);
  });
});
