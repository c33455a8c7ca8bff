/**
 * switchyard's library surface: the pure core, for tools that want to read
 * or plan policies the way the CLI does.
 */
export * from './core/errors.js';
export * from './core/version.js';
export * from './core/names.js';
export * from './core/duration.js';
export * from './core/policy-schema.js';
