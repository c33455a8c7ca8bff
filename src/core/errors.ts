/**
 * Every failure switchyard expects is a SwitchyardError: a kind that decides
 * the exit code, a stable machine code, and a sentence a person can act on.
 * Only the CLI entry point turns the kind into an exit code.
 */
export type ErrorKind = 'failed' | 'usage' | 'timeout' | 'conflict';

export const EXIT_CODES: Record<ErrorKind, number> = {
  failed: 1,
  usage: 2,
  timeout: 3,
  conflict: 4,
};

export class SwitchyardError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  /** Extra facts for --json output and for tests (problem lists, paths). */
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SwitchyardError';
    this.kind = kind;
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

/** Bad usage, config or input: exit 2. */
export function usageError(code: string, message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError('usage', code, message, details);
}

/** The operation could not be carried out: exit 1. */
export function failedError(code: string, message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError('failed', code, message, details);
}

/** The policy moved on under the caller: exit 4, try again. */
export function conflictError(code: string, message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError('conflict', code, message, details);
}

/** Waiting ran past its deadline: exit 3. */
export function timeoutError(code: string, message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError('timeout', code, message, details);
}

export function isSwitchyardError(value: unknown): value is SwitchyardError {
  return value instanceof SwitchyardError;
}
