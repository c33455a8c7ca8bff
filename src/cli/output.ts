import chalk from 'chalk';

export interface OutputStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * The one place commands write to. With --json, stdout carries exactly one
 * JSON document and everything meant for people goes to stderr.
 */
export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  private readonly streams: OutputStreams;

  constructor(opts: { json: boolean; verbose: boolean }, streams: OutputStreams = { stdout: process.stdout, stderr: process.stderr }) {
    this.json = opts.json;
    this.verbose = opts.verbose;
    this.streams = streams;
  }

  /** The command's main human output (tables, listings): stdout unless --json. */
  print(text: string): void {
    if (this.json) this.streams.stderr.write(`${text}\n`);
    else this.streams.stdout.write(`${text}\n`);
  }

  /** A message for people: always stderr, so stdout stays clean for pipes. */
  info(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  success(text: string): void {
    this.info(`${chalk.green('✔')} ${text}`);
  }

  warn(text: string): void {
    this.info(`${chalk.yellow('warning:')} ${text}`);
  }

  debug(text: string): void {
    if (this.verbose) this.info(chalk.dim(text));
  }

  error(text: string): void {
    this.info(`${chalk.red('error:')} ${text}`);
  }

  /** The machine-readable result, printed only with --json. */
  result(data: unknown): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  }
}
