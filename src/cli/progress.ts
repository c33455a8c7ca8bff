import chalk from 'chalk';

/**
 * Progress of a long step for people, on stderr: a spinner line redrawn in
 * place on a TTY, one plain line per step elsewhere, nothing with --json
 * (the JSON result says it all).
 */
export interface Progress {
  step(message: string): void;
  done(message: string): void;
  fail(message: string): void;
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createProgress(opts: { json: boolean; tty: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json) return { step() {}, done() {}, fail() {}, stop() {} };
  if (!opts.tty) {
    return {
      step: (m) => stream.write(`… ${m}\n`),
      done: (m) => stream.write(`✔ ${m}\n`),
      fail: (m) => stream.write(`✖ ${m}\n`),
      stop() {},
    };
  }
  let current = '';
  let frame = 0;
  const draw = () => stream.write(`\r\u001b[2K${chalk.cyan(FRAMES[frame % FRAMES.length])} ${current}`);
  const timer = setInterval(() => {
    frame += 1;
    if (current !== '') draw();
  }, 80);
  timer.unref();
  const settle = (mark: string, m: string) => {
    stream.write(`\r\u001b[2K${mark} ${m}\n`);
    if (current !== '') draw();
  };
  return {
    step(m) {
      current = m;
      draw();
    },
    done: (m) => settle(chalk.green('✔'), m),
    fail: (m) => settle(chalk.red('✖'), m),
    stop() {
      clearInterval(timer);
      if (current !== '') stream.write('\r\u001b[2K');
      current = '';
    },
  };
}
