/** What the importers share: annotations that hold RLE and decode on demand, and file reading with clear errors. */
import { readFileSync } from 'node:fs';
import { type Rle, maskFromRle } from '../masks/index.ts';
import { takeTurn } from './common.ts';
import type { ImportContext, ImportedAnnotation } from './types.ts';

export function importedAnnotation(imageKey: string, labelName: string, rle: Rle): ImportedAnnotation {
  return {
    imageKey,
    labelName,
    rle,
    get mask() {
      return maskFromRle(rle);
    },
  };
}

/**
 * Why a label name cannot be stored, or null: empty after trimming, or holding a control
 * character (a NUL or line break would cut or split it in exports, the CLI's output and the UI).
 * The store checks every name with it; importers check first, to name the file and element.
 */
export function labelNameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed === '') return 'a label needs a non-empty name';
  const control = /[\u0000-\u001f\u007f]/.exec(trimmed);
  if (!control) return null;
  const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  return `label name ${JSON.stringify(trimmed)} contains the control character U+${code}; names may not contain control characters`;
}

/**
 * A text file an importer reads, without the byte order mark some editors write first (allowed
 * before JSON by RFC 8259, 8.1; it would be part of a first class name or YAML key).
 */
export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    throw cannotRead(path, what, err);
  }
}

/** The error for a file an importer cannot open or read, naming it and why. */
export function cannotRead(path: string, what: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return new Error(`${path}: cannot read ${what} (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`);
}

/**
 * Between two items of an import (annotations, files, chunks): the app's main process takes its
 * turn (its window, a cancel), and a cancel stops the import.
 */
export async function importTurn(from: string, ctx: ImportContext): Promise<void> {
  await takeTurn();
  if (ctx.signal?.aborted) throw new Error(`import of ${from} cancelled`);
}

/** `readText`, parsed as JSON: a syntax error names the file. */
export function readJson(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}
