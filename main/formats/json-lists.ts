/**
 * The elements of chosen lists at the top level of a JSON object, read from the file a chunk at a
 * time and parsed one element at a time. A dataset file (a COCO file of LVIS or Objects365 size)
 * can be longer than the longest string V8 makes (about 512 MiB), which `JSON.parse` of the whole
 * text needs, and its parsed form would not fit the app's heap; its elements are small.
 *
 * Everything is scanned, so a file cut short or broken between elements is refused, with the
 * byte where it went wrong; the values that are not handed over (other keys, other lists) are
 * checked for matching brackets and closed strings, not parsed.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { cannotRead } from './imported.ts';

export interface TopLevelKeys {
  /** every key of the top-level object, with what its value is */
  kinds: Map<string, 'list' | 'other'>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Bytes a value's scan stops at outside strings: the rest (digits, letters, white space) are passed over. */
const STRUCTURAL = new Uint8Array(256);
for (const c of [QUOTE, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET]) STRUCTURAL[c] = 1;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Where the scan is, between bytes: enough to go on with the next chunk. */
const enum At {
  /** before the top-level `{` */
  Start,
  /** in the top-level object, where a key or `}` comes */
  Key,
  /** inside a key string */
  KeyText,
  /** after a key, where `:` comes */
  Colon,
  /** after `:`, where the value comes */
  Value,
  /** inside a value (one passed over, or an element being kept) */
  InValue,
  /** in a chosen list, where an element or `]` comes */
  Element,
  /** in a chosen list after an element, where `,` or `]` comes */
  ElementEnd,
  /** after a top-level value, where `,` or `}` comes */
  ValueEnd,
  /** after the top-level `}`: only white space */
  End,
}

/**
 * The scan as a state machine fed chunk by chunk. `feed` runs until the chunk ends or an element
 * of a chosen list is complete (its text in `element`), so the caller parses and hands it over
 * between two calls, and the loop over bytes stays synchronous.
 */
class TopLevelScanner {
  at: At = At.Start;
  readonly kinds = new Map<string, 'list' | 'other'>();
  /** the key whose value is being read */
  key = '';
  /** elements of `key`'s list completed so far */
  index = 0;
  /** a completed element's text, and the file offset where it began */
  element: string | null = null;
  elementStart = 0;
  private keyParts: Buffer[] = [];
  private keep = false;
  private closers: number[] = [];
  private inString = false;
  private escaped = false;
  /** a number, true, false or null: it ends before the byte after it */
  private primitive = false;
  private elementParts: Buffer[] = [];

  constructor(private readonly lists: readonly string[], private readonly invalid: (problem: string) => Error) {}

  /** Scans `buf` from `from`; returns where it stopped (the chunk's length when it ran out). */
  feed(buf: Buffer, from: number, offset: number): number {
    const n = buf.length;
    let keyFrom = this.at === At.KeyText ? from : -1;
    let keptFrom = this.at === At.InValue && this.keep ? from : -1;
    for (let i = from; i < n; i++) {
      const c = buf[i]!;
      switch (this.at) {
        case At.Start:
          if (isSpace(c)) continue;
          if (c !== OPEN_BRACE) throw this.invalid(`the top level is not an object: ${JSON.stringify(String.fromCharCode(c))} at byte ${offset + i}`);
          this.at = At.Key;
          continue;
        case At.Key:
          if (isSpace(c)) continue;
          if (c === CLOSE_BRACE && this.kinds.size === 0) { this.at = At.End; continue; }
          if (c !== QUOTE) throw this.unexpected(buf, i, offset, 'a key');
          this.at = At.KeyText;
          keyFrom = i + 1;
          this.escaped = false;
          continue;
        case At.KeyText: {
          const end = this.stringEnd(buf, i);
          if (end < 0) { i = n; continue; }
          this.keyParts.push(Buffer.from(buf.subarray(keyFrom, end)));
          keyFrom = -1;
          try {
            this.key = JSON.parse(`"${Buffer.concat(this.keyParts).toString('utf8')}"`) as string;
          } catch {
            throw this.invalid(`a malformed key ending at byte ${offset + end}`);
          }
          this.keyParts = [];
          if (this.kinds.has(this.key) && this.lists.includes(this.key)) throw this.invalid(`the key "${this.key}" appears twice at the top level`);
          this.at = At.Colon;
          i = end;
          continue;
        }
        case At.Colon:
          if (isSpace(c)) continue;
          if (c !== COLON) throw this.unexpected(buf, i, offset, '":"');
          this.at = At.Value;
          continue;
        case At.Value:
          if (isSpace(c)) continue;
          if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) throw this.unexpected(buf, i, offset, 'a value');
          this.kinds.set(this.key, c === OPEN_BRACKET ? 'list' : 'other');
          if (c === OPEN_BRACKET && this.lists.includes(this.key)) {
            this.at = At.Element;
            this.index = 0;
            continue;
          }
          this.keep = false;
          this.at = At.InValue;
          i--; // the value's first byte is read again, as its own
          continue;
        case At.Element:
          if (isSpace(c)) continue;
          if (c === CLOSE_BRACKET && this.index === 0) { this.at = At.ValueEnd; continue; }
          if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) throw this.unexpected(buf, i, offset, `"${this.key}" element ${this.index}`);
          this.keep = true;
          keptFrom = i;
          this.elementStart = offset + i;
          this.at = At.InValue;
          i--;
          continue;
        case At.ElementEnd:
          if (isSpace(c)) continue;
          if (c === COMMA) { this.at = At.Element; continue; }
          if (c === CLOSE_BRACKET) { this.at = At.ValueEnd; continue; }
          throw this.unexpected(buf, i, offset, `"," or "]" after "${this.key}" element ${this.index - 1}`);
        case At.ValueEnd:
          if (isSpace(c)) continue;
          if (c === COMMA) { this.at = At.Key; continue; }
          if (c === CLOSE_BRACE) { this.at = At.End; continue; }
          throw this.unexpected(buf, i, offset, `"," or "}" after the value of "${this.key}"`);
        case At.End:
          if (isSpace(c)) continue;
          throw this.invalid(`${JSON.stringify(String.fromCharCode(c))} at byte ${offset + i} after the end of the top-level object`);
        case At.InValue: {
          const end = this.valueEnd(buf, i, offset);
          if (end < 0) { i = n; continue; }
          if (this.keep) {
            if (this.elementParts.length === 0) {
              this.element = buf.toString('utf8', keptFrom, end);
            } else {
              this.elementParts.push(buf.subarray(keptFrom, end));
              this.element = Buffer.concat(this.elementParts).toString('utf8');
              this.elementParts = [];
            }
            this.index++;
            this.at = At.ElementEnd;
            return end;
          }
          this.at = At.ValueEnd;
          i = end - 1;
          continue;
        }
      }
    }
    // carry what is still open into the next chunk
    if (keptFrom >= 0) this.elementParts.push(Buffer.from(buf.subarray(keptFrom, n)));
    if (keyFrom >= 0) this.keyParts.push(Buffer.from(buf.subarray(keyFrom, n)));
    return n;
  }

  private unexpected(buf: Buffer, i: number, offset: number, expected: string): Error {
    return this.invalid(`${JSON.stringify(String.fromCharCode(buf[i]!))} at byte ${offset + i} where ${expected} should be`);
  }

  /** The index of the quote closing the string scanned from `i` (inside it), or -1 if the chunk ends first. */
  private stringEnd(buf: Buffer, i: number): number {
    const n = buf.length;
    if (this.escaped) { this.escaped = false; i++; }
    for (; i < n; i++) {
      const c = buf[i]!;
      if (c === QUOTE) return i;
      if (c === BACKSLASH) {
        if (i + 1 === n) { this.escaped = true; return -1; }
        i++;
      }
    }
    return -1;
  }

  /** The index just past the value scanned from `i`, or -1 if the chunk ends first. */
  private valueEnd(buf: Buffer, i: number, offset: number): number {
    const n = buf.length;
    const closers = this.closers;
    while (i < n) {
      if (this.inString) {
        const end = this.stringEnd(buf, i);
        if (end < 0) return -1;
        this.inString = false;
        if (closers.length === 0) return end + 1;
        i = end + 1;
        continue;
      }
      if (closers.length === 0 && (this.primitive || STRUCTURAL[buf[i]!] === 0)) {
        // a value on its own that is a number, true, false or null
        for (; i < n; i++) {
          const c = buf[i]!;
          if (this.primitive && (isSpace(c) || c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE)) { this.primitive = false; return i; }
          if (!isSpace(c)) this.primitive = true;
        }
        return -1;
      }
      // inside brackets: numbers, literals, commas and white space pass in one tight loop
      let c = buf[i]!;
      while (STRUCTURAL[c] === 0) {
        if (++i === n) return -1;
        c = buf[i]!;
      }
      if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        closers.push(c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET);
      } else {
        if (closers.pop() !== c) throw this.invalid(`${JSON.stringify(String.fromCharCode(c))} at byte ${offset + i} closes nothing open`);
        if (closers.length === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
}

/**
 * Hands `visit` each element of the top-level lists named in `lists`, parsed, in file order, and
 * returns what every top-level key held. Throws `<path>: not valid JSON (...)` or
 * `<path>: cannot read <what> (...)`. `between` runs after each chunk with the bytes read so far
 * and the file's size (the app's main process takes its turns there, shows the progress and
 * notices a cancel); `chunkBytes` is for tests.
 */
export async function readTopLevelLists(
  path: string,
  what: string,
  lists: readonly string[],
  visit: (key: string, index: number, value: unknown) => void | Promise<void>,
  opts: { between?: (read: number, size: number) => Promise<void>; chunkBytes?: number } = {},
): Promise<TopLevelKeys> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannotRead(path, what, err);
  }
  const invalid = (problem: string) => new Error(`${path}: not valid JSON (${problem})`);
  const scanner = new TopLevelScanner(lists, invalid);
  const chunk = Buffer.allocUnsafe(opts.chunkBytes ?? 8 << 20);
  let offset = 0;
  try {
    const size = fstatSync(fd).size;
    // a byte order mark (RFC 8259, 8.1 lets a parser ignore it) is not part of the text
    const head = Buffer.alloc(3);
    if (readSync(fd, head, 0, 3, 0) === 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) offset = 3;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, offset);
      } catch (err) {
        throw cannotRead(path, what, err);
      }
      if (n === 0) break;
      const buf = chunk.subarray(0, n);
      let i = 0;
      while (i < n) {
        i = scanner.feed(buf, i, offset);
        const text = scanner.element;
        if (text === null) continue;
        scanner.element = null;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (err) {
          throw invalid(`${(err as Error).message}, in "${scanner.key}" element ${scanner.index - 1} starting at byte ${scanner.elementStart}`);
        }
        const turn = visit(scanner.key, scanner.index - 1, value);
        if (turn) await turn;
      }
      offset += n;
      await opts.between?.(offset, size);
    }
  } finally {
    closeSync(fd);
  }
  if (scanner.at === At.Start) throw invalid(offset === 0 ? 'the file is empty' : 'the file holds only white space');
  if (scanner.at !== At.End) throw invalid(`the file ends at byte ${offset} before the top-level object is closed`);
  return { kinds: scanner.kinds };
}
