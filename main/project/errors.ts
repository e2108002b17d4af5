/** SQLite failures turned into messages that name the project file and what it means for the user. */

const MESSAGES: [RegExp, (path: string, code: string) => string][] = [
  [/^SQLITE_(FULL|IOERR)/, (p, c) => `disk full or write failed: ${p} (${c}); the change was not saved and the project is unchanged`],
  [/^SQLITE_(CORRUPT|NOTADB)/, (p, c) => `project file is damaged: ${p} (${c})`],
  [/^SQLITE_READONLY/, (p, c) => `project file cannot be written: ${p} (${c})`],
  [/^SQLITE_BUSY/, (p, c) => `project file is locked by another program: ${p} (${c})`],
];

/** Returns a clear Error for known SQLite failure codes, or the error unchanged. */
export function describeDbError(err: unknown, dbPath: string): unknown {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return err;
  const match = MESSAGES.find(([pattern]) => pattern.test(code));
  if (!match) return err;
  const described = new Error(match[1](dbPath, code), { cause: err });
  (described as Error & { code: string }).code = code;
  return described;
}
