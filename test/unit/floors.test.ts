import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The floors of src/ (docs/design.md, "Map of src/"): an import points
 * down, or sideways between the adapters of floor 3, never up. The SDKs
 * import only core/ and protocol/; the router's HTTP side never imports
 * the loops. This test reads every import of every file under src/ and
 * fails on one that breaks the map.
 */
const FLOOR: Record<string, number> = {
  core: 0, protocol: 1, config: 2,
  store: 3, fleet: 3, haproxy: 3, coordination: 3,
  router: 4, ops: 5, control: 6, host: 7, cli: 8, demo: 8,
};
/** Rooms that are their own world: what each may import besides itself. */
const ONLY: Record<string, string[]> = { sdk: ['core', 'protocol'] };
/** Who may import a room that is not on a floor. */
const USERS_OF: Record<string, string[]> = { sdk: ['demo', 'cli'] };

const SRC = resolve(__dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The room of a file under src/: its first folder, or '' for a top-level file. */
function roomOf(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : '';
}

interface Edge { from: string; to: string; file: string; spec: string }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), match[1]!);
      out.push({ from: roomOf(file), to: roomOf(target), file: relative(SRC, file), spec: match[1]! });
    }
  }
  return out;
}

/** Why an import breaks the map, or undefined when it keeps to it. */
export function breach(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  // Top-level files (the library's index, the package root finder) import only core, and anyone may use them.
  if (to === '') return undefined;
  if (from === '') return to === 'core' ? undefined : 'a top-level file imports only core/';
  if (ONLY[from] !== undefined) return ONLY[from]!.includes(to) ? undefined : `${from}/ imports only ${ONLY[from]!.join(' and ')}`;
  if (USERS_OF[to] !== undefined) return USERS_OF[to]!.includes(from) ? undefined : `only ${USERS_OF[to]!.join(' and ')} import ${to}/`;
  const a = FLOOR[from];
  const b = FLOOR[to];
  if (a === undefined) return `src/${from}/ is not a room of the map`;
  if (b === undefined) return `src/${to}/ is not a room of the map`;
  if (b < a) return undefined;
  if (b === a && (a === 3 || a === 8)) return undefined;
  return `floor ${a} (${from}) imports floor ${b} (${to}): imports point down`;
}

describe('the floors of src/', () => {
  it('every import points down, or sideways between adapters', () => {
    const broken = edges().flatMap((e) => {
      const why = breach(e.from, e.to);
      return why === undefined ? [] : [`${e.file} imports ${e.spec}: ${why}`];
    });
    expect(broken).toEqual([]);
  });

  it('the rule itself: up, sideways and the SDK', () => {
    expect(breach('core', 'store')).toMatch(/imports point down/);
    expect(breach('router', 'control')).toMatch(/imports point down/);
    expect(breach('ops', 'host')).toMatch(/imports point down/);
    expect(breach('store', 'coordination')).toBeUndefined();
    expect(breach('host', 'router')).toBeUndefined();
    expect(breach('sdk', 'router')).toMatch(/sdk\/ imports only/);
    expect(breach('router', 'sdk')).toMatch(/only demo and cli import sdk/);
    expect(breach('rollout', 'core')).toMatch(/not a room/);
  });

  it('no config → store import, one Redis client, one keys module', () => {
    expect(edges().filter((e) => e.from === 'config' && e.to === 'store')).toEqual([]);
    const all = files(SRC).map((f) => relative(SRC, f));
    expect(all.filter((f) => /redis-(client|link)\.ts$/.test(f))).toEqual(['coordination/redis-client.ts']);
    expect(all.filter((f) => /keys\.ts$/.test(f) && f.includes('redis') || /(^|\/)(redis-)?keys\.ts$/.test(f))).toEqual(['coordination/keys.ts']);
  });

  it('the router is built from ports: nothing assigns its fields from outside', () => {
    const outside = files(SRC).filter((f) => !f.startsWith(join(SRC, 'router')));
    const assigns = outside.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\brouter!?\.(state\.)?[A-Za-z]+\s*=[^=>]/g)].map((m) => `${relative(SRC, f)}: ${m[0]}`));
    expect(assigns).toEqual([]);
  });
});
