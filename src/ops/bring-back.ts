import { isSwitchyardError } from '../core/errors.js';

/**
 * Brings a version's live processes back with one commit, or returns
 * undefined when they went away meanwhile (the reconcile loop claimed a
 * drained one's stop between our read and our commit): the caller then
 * starts new incarnations. Any other refusal stands.
 */
export async function bringBack<T>(commit: () => Promise<T>): Promise<T | undefined> {
  try {
    return await commit();
  } catch (error) {
    if (isSwitchyardError(error) && (error.code === 'no_active_process' || error.code === 'needs_restart' || error.code === 'unknown_version')) return undefined;
    throw error;
  }
}

