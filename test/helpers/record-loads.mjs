// Loaded with `node --import`: appends the URL of every ES module the process
// resolves to the file named by SY_LOAD_LOG (the CLI start-up tests check
// which parts of the bundle a command loads).
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.SY_LOAD_LOG, result.url + '\\n');
  return result;
}
`)}`,
);
