import type { Config, ServiceConfig } from '../config/schema.js';
import { usageError } from '../core/errors.js';
import type { Context } from './context.js';

/** The service a command acts on: --service, or the only one configured. */
export function pickService(ctx: Context, config: Config): ServiceConfig {
  const names = Object.keys(config.services);
  const wanted = ctx.options.service;
  if (wanted !== undefined) {
    const found = Object.hasOwn(config.services, wanted) ? config.services[wanted] : undefined;
    if (found === undefined) {
      throw usageError('unknown_service', `There is no service ${JSON.stringify(wanted)} in the config${names.length > 0 ? `; it has ${names.join(', ')}` : ''}.`);
    }
    return found;
  }
  if (names.length === 1) return config.services[names[0]!]!;
  if (names.length === 0) throw usageError('no_service', 'The config has no services: add one under services (see `switchyard init`).');
  throw usageError('service_required', `The config has several services (${names.join(', ')}): pass --service <name>.`);
}
