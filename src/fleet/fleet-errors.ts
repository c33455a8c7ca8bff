import { conflictError, failedError } from '../core/errors.js';

/** PM2 already lists the name a start was asked for: starting it would restart that process. */
export function nameInUse(id: string, host: string) {
  return conflictError('name_in_use', `PM2 on host ${host} already runs a process named ${id}, so it was not started: PM2 would restart it and cut off its sessions. A name is one incarnation and is never started twice; run the command again to claim a new one.`, { id, host });
}

/** A delete that returned while PM2 still lists the process. */
export function stillListed(id: string, host: string) {
  return failedError('still_running', `PM2 on host ${host} still lists ${id} after it was asked to delete it: check it with \`pm2 ls\` there.`, { id, host });
}
