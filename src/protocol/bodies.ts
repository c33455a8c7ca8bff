/**
 * Reply bodies shared by the router and the SDKs (DESIGN.md, "Router HTTP
 * interface"), with the check a receiver makes before trusting one.
 */

/**
 * Told to a process whose version drains: no new logins reach it, the
 * terminals it holds should be moved on (or let go) before `deadline`, when
 * switchyard stops it whatever it still holds. Both are ISO 8601 times,
 * or null where the policy names none (a hand-written policy may leave
 * them out; the store always writes both).
 */
export interface DrainNotice {
  since: string | null;
  deadline: string | null;
}

/** The heartbeat's 200 answer (a 204 carries nothing: the process's version does not drain). */
export interface HeartbeatReply {
  drain: DrainNotice;
}

const isIsoTime = (value: unknown): value is string => typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value));

/** The drain notice of a heartbeat reply body, or undefined when the body is not one. */
export function drainNoticeOf(body: unknown): DrainNotice | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const drain = (body as { drain?: unknown }).drain;
  if (typeof drain !== 'object' || drain === null) return undefined;
  const { since, deadline } = drain as { since?: unknown; deadline?: unknown };
  if ((since !== null && !isIsoTime(since)) || (deadline !== null && !isIsoTime(deadline))) return undefined;
  return { since, deadline };
}
