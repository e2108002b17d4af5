/** Every checkpoint error names the file (by its base name, as the user sees it) and the problem. */
import { basename } from 'node:path';

export function checkpointError(path: string, problem: string): Error {
  return new Error(`${basename(path)}: ${problem}`);
}

/** Prefixes an error raised while reading `path` with the file's name, once. */
export function namedError(path: string, error: unknown): Error {
  if (error instanceof Error && error.message.startsWith(`${basename(path)}: `)) return error;
  return checkpointError(path, error instanceof Error ? error.message : String(error));
}
