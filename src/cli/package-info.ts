import { readFileSync } from 'node:fs';
import { packageFile } from '../package-root.js';

/** The installed package's version, read once from package.json. */
export function readPackageVersion(): string {
  const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
