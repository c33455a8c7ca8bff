import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The folder of switchyard's own package.json. Found by walking up rather
 * than by a fixed "../..": the same code runs from src/ (tsx), from tsc's
 * dist/ tree and from the bundle's chunks in dist/cli-chunks/, each at
 * another depth.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
    if (dirname(dir) === dir) throw new Error(`switchyard's package.json was not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** A file shipped in the package (templates/, bin/, package.json), by its path from the package root. */
export function packageFile(relative: string): string {
  return join(packageRoot(), relative);
}
