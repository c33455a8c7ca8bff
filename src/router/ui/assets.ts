import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PAGE_CSS } from './page-css.js';
import { PAGE_JS } from './page-js.js';
import { ROLLOUT_CSS } from './page-rollout-js.js';

export interface Asset {
  type: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);

/** uPlot's files, from the installed package (a dependency of switchyard): read on first use. */
function fromPackage(path: string, type: string): () => Asset {
  let asset: Asset | undefined;
  return () => (asset ??= { type, body: readFileSync(require.resolve(path)) });
}

/** The page's static files, by their name under /ui/. */
export const ASSETS: Record<string, () => Asset> = {
  'app.js': () => ({ type: 'text/javascript; charset=utf-8', body: Buffer.from(PAGE_JS) }),
  'app.css': () => ({ type: 'text/css; charset=utf-8', body: Buffer.from(PAGE_CSS + ROLLOUT_CSS) }),
  'uplot.js': fromPackage('uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'),
  'uplot.css': fromPackage('uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'),
};
