import { rememberEndpoint } from './endpoint-cache.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import type { Context } from './context.js';

export interface Project {
  loaded: LoadedConfig;
  store: Store;
}

/** Loads the config the command was pointed at and opens its policy store. */
export async function openProject(ctx: Context): Promise<Project> {
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config, env: ctx.env });
  for (const warning of loaded.warnings) ctx.out.warn(warning);
  // So the next `status` can ask the router without loading the config again (fast-status.ts).
  await rememberEndpoint(loaded.filepath, loaded.config, ctx.env, ctx.cwd);
  return { loaded, store: openStore(loaded.config) };
}
