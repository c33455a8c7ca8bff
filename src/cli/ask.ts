import { usageError } from '../core/errors.js';
import type { Context } from './context.js';

export interface Question {
  /** The flag that answers this question without a prompt, like `--script`. */
  flag: string;
  message: string;
  default: string;
  /** Returns an error sentence, or undefined when the answer is fine. */
  validate?: (value: string) => string | undefined;
}

/**
 * Answers a question from its flag, from the default under --yes, or by
 * asking when interactive. Without a TTY nothing prompts: a missing answer is
 * an error that names the flags to pass.
 */
export async function ask(ctx: Context, question: Question, given: string | undefined): Promise<string> {
  const check = (value: string): string => {
    const problem = question.validate?.(value);
    if (problem !== undefined) throw usageError('invalid_answer', `${question.flag} ${JSON.stringify(value)}: ${problem}`);
    return value;
  };
  if (given !== undefined) return check(given);
  if (ctx.options.yes === true) return check(question.default);
  if (!ctx.interactive) {
    throw usageError(
      'answer_required',
      `${question.message} needs an answer, and switchyard does not prompt without a terminal (or with CI set): pass ${question.flag} <value>, or --yes to take the default (${question.default}).`,
    );
  }
  const { input } = await import('@inquirer/prompts');
  return input({
    message: question.message,
    default: question.default,
    validate: (value: string) => question.validate?.(value) ?? true,
  });
}
