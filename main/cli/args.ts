/** Small argument parser shared by the command files: `--flag value`, repeated flags, booleans. */

export class CliError extends Error {}

/** A command group receives the arguments after its name and returns an exit code. */
export type CommandGroup = (argv: string[]) => Promise<number | void>;

export interface ParsedArgs {
  positional: string[];
  /** every value of each `--name value` flag, in order */
  values: Map<string, string[]>;
  /** boolean `--name` switches */
  switches: Set<string>;
}

/**
 * Parses argv. `booleanFlags` lists the switches that take no value; every other `--name`
 * takes the next argument as its value (which may start with '-', e.g. a negative number).
 */
export function parseArgs(argv: string[], valueFlags: string[], booleanFlags: string[] = []): ParsedArgs {
  const positional: string[] = [];
  const values = new Map<string, string[]>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      if (booleanFlags.includes(name)) {
        if (eq >= 0) throw new CliError(`--${name} takes no value`);
        switches.add(name);
        continue;
      }
      if (!valueFlags.includes(name)) throw new CliError(`unknown option --${name}`);
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else value = argv[++i];
      if (value === undefined) throw new CliError(`--${name} needs a value`);
      const list = values.get(name) ?? [];
      list.push(value);
      values.set(name, list);
    } else {
      positional.push(arg);
    }
  }
  return { positional, values, switches };
}

export function optional(args: ParsedArgs, name: string): string | undefined {
  const list = args.values.get(name);
  if (!list) return undefined;
  if (list.length > 1) throw new CliError(`--${name} given more than once`);
  return list[0];
}

export function required(args: ParsedArgs, name: string): string {
  const value = optional(args, name);
  if (value === undefined) throw new CliError(`missing required option --${name}`);
  return value;
}

export function all(args: ParsedArgs, name: string): string[] {
  return args.values.get(name) ?? [];
}

/** Refuses positional arguments in a command that takes none (a second value after a flag lands there). */
export function noPositional(args: ParsedArgs, command: string): void {
  if (args.positional.length > 0) throw new CliError(`${command}: unexpected argument "${args.positional[0]}"`);
}

/** A decimal number, with optional sign, fraction and exponent ("-3", "20.5", ".5", "1e3"). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * `text` as a decimal number, NaN for anything else. Number() alone would also read "0x10" as
 * 16, "0b1" and "0o7" as 1 and 7, and "" as 0: numbers are only ever written in decimal on a
 * command line, so those are typing mistakes.
 */
export function decimal(text: string): number {
  const t = text.trim();
  return DECIMAL.test(t) ? Number(t) : Number.NaN;
}

/** Parses a comma-separated list of finite decimal numbers, e.g. "10,20.5,1". */
export function numberList(text: string, what: string, count: number): number[] {
  const parts = text.split(',');
  if (parts.length !== count) throw new CliError(`${what} "${text}" must have ${count} comma-separated numbers`);
  return parts.map((p) => {
    const v = decimal(p);
    if (!Number.isFinite(v)) throw new CliError(`${what} "${text}": "${p}" is not a number`);
    return v;
  });
}

export function integerOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = optional(args, name);
  if (text === undefined) return undefined;
  const v = decimal(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new CliError(`--${name} must be an integer in [${min}, ${max}], got "${text}"`);
  return v;
}
