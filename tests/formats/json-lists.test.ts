/**
 * The streaming reader of a JSON object's top-level lists: the same elements as JSON.parse at any
 * chunk size (strings, escapes and multi-byte characters cut between chunks), clear errors with
 * the byte, and a COCO file longer than the longest string V8 can make imported whole.
 */
import { closeSync, constants as fsConstants, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { constants } from 'node:buffer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importers } from '../../main/formats/index.ts';
import { readTopLevelLists } from '../../main/formats/json-lists.ts';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'json-lists-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(text: string | Buffer, lists: string[], chunkBytes?: number) {
  const path = join(dir, 'doc.json');
  writeFileSync(path, text);
  const got: Record<string, unknown[]> = {};
  const chunks: number[] = [];
  const { kinds } = await readTopLevelLists(path, 'a test file', lists, (key, index, value) => {
    (got[key] ??= []).push(value);
    expect(index).toBe(got[key]!.length - 1);
  }, { chunkBytes, between: async () => { chunks.push(chunks.length); } });
  return { got, kinds: Object.fromEntries(kinds), chunks: chunks.length, path };
}

const DOCS: Record<string, unknown>[] = [
  {
    info: { description: 'quotes " and brackets ] } [ { in a string', nested: [[1, [2]], { a: '\\' }] },
    images: [{ id: 1, file_name: 'a "b".png', tags: ['x', { y: ['}'] }] }, { id: 2, file_name: 'back\\slash\\', empty: {} }],
    annotations: [1, 'two', null, true, false, -1.5e3, 0, [], {}, '', [[]], 'é 漢 😀 \u0001 \u2028'],
    categories: [],
    note: 'ending "\\" with a backslash \\',
  },
  { '': 0, 'k"ey': 'v', annotations: [{ u: '😀' }], images: [], n: -0.5, t: true, z: null },
  {},
];

describe('readTopLevelLists', () => {
  for (const [d, doc] of DOCS.entries()) {
    for (const indent of [0, 2]) {
      it(`hands over the elements JSON.parse gives, at every chunk size (document ${d}, indent ${indent})`, async () => {
        const text = JSON.stringify(doc, null, indent);
        const lists = ['images', 'annotations', 'categories'];
        for (const chunkBytes of [1, 2, 3, 5, 7, 64, undefined]) {
          const { got, kinds } = await collect(text, lists, chunkBytes);
          for (const key of lists) {
            const expected = (doc as Record<string, unknown[]>)[key];
            expect(got[key] ?? (expected === undefined ? undefined : [])).toEqual(expected);
          }
          expect(Object.keys(kinds)).toEqual(Object.keys(doc));
          for (const [key, value] of Object.entries(doc)) expect(kinds[key]).toBe(Array.isArray(value) ? 'list' : 'other');
        }
      });
    }
  }

  it('reads past a byte order mark and white space around everything, and takes a turn after each chunk', async () => {
    const text = '\uFEFF \n{ "images" :\t[ 1 , {"a" : [ ] } ]\r\n, "x": { } }\n ';
    const { got, chunks } = await collect(text, ['images'], 4);
    expect(got.images).toEqual([1, { a: [] }]);
    expect(chunks).toBe(Math.ceil((Buffer.byteLength(text) - 3) / 4));
  });

  it.each([
    ['', 'the file is empty'],
    ['  ', 'the file holds only white space'],
    ['[]', 'the top level is not an object: "[" at byte 0'],
    ['{"images": [', 'the file ends at byte 12 before the top-level object is closed'],
    ['{"images": [{"a": 1}', 'the file ends at byte 20 before the top-level object is closed'],
    ['{"images": "unclosed}', 'the file ends at byte 21 before the top-level object is closed'],
    ['{"images": [1,]}', '"]" at byte 14 where "images" element 1 should be'],
    ['{"images": [1 2]}', '"2" at byte 14 where "," or "]" after "images" element 0 should be'],
    ['{"images": [{"a": }]}', 'in "images" element 0 starting at byte 12'],
    ['{"images": [tru]}', 'in "images" element 0 starting at byte 12'],
    ['{"a": 1} x', '"x" at byte 9 after the end of the top-level object'],
    ['{"a" 1}', '"1" at byte 5 where ":" should be'],
    ['{"a": }', '"}" at byte 6 where a value should be'],
    ['{"a": 1,}', '"}" at byte 8 where a key should be'],
    ['{a: 1}', '"a" at byte 1 where a key should be'],
    ['{"a": {"b": ]}}', '"]" at byte 12 closes nothing open'],
    ['{"a": 1 "b": 2}', '"\\"" at byte 8 where "," or "}" after the value of "a" should be'],
    ['{"images": [], "images": []}', 'the key "images" appears twice at the top level'],
    ['{"bad \\x key": 1}', 'a malformed key ending at byte 12'],
  ])('refuses %j: %s', async (text, problem) => {
    for (const chunkBytes of [1, 3, undefined]) {
      const path = join(dir, 'bad.json');
      writeFileSync(path, text);
      const error = await readTopLevelLists(path, 'a test file', ['images'], () => undefined, { chunkBytes }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(`${path}: not valid JSON (`);
      expect((error as Error).message).toContain(problem);
    }
  });

  it('names a missing file, and passes on what the visitor throws as it is', async () => {
    const missing = join(dir, 'missing.json');
    await expect(readTopLevelLists(missing, 'a test file', [], () => undefined)).rejects.toThrow(`${missing}: cannot read a test file (no such file)`);
    const path = join(dir, 'visit.json');
    writeFileSync(path, '{"images": [1, 2, 3]}');
    const seen: unknown[] = [];
    await expect(readTopLevelLists(path, 'a test file', ['images'], (_, i, v) => {
      seen.push(v);
      if (i === 1) throw new Error('stop here');
    })).rejects.toThrow(/^stop here$/);
    expect(seen).toEqual([1, 2]);
  });
});

describe('a COCO file longer than the longest string', () => {
  it('imports: the annotations of a file past V8\'s string limit, which JSON.parse of the whole text cannot read', async () => {
    const image = join(dir, 'a.png');
    await sharp({ create: { width: 8, height: 6, channels: 3, background: '#808080' } }).png().toFile(image);
    const path = join(dir, 'large.json');
    const fd = openSync(path, fsConstants.O_CREAT | fsConstants.O_WRONLY | fsConstants.O_TRUNC);
    try {
      writeSync(fd, '{"info": {"description": "padded past the string limit", "padding": [');
      // the padding is white space inside a list no one reads: the size without the content
      const spaces = Buffer.alloc(64 << 20, 0x20);
      for (let written = 0; written <= constants.MAX_STRING_LENGTH; written += spaces.length) writeSync(fd, spaces);
      writeSync(fd, ']}, "annotations": [');
      writeSync(fd, JSON.stringify({ id: 1, image_id: 7, category_id: 3, segmentation: [[1, 1, 6, 1, 6, 4, 1, 4]] }));
      writeSync(fd, ',');
      writeSync(fd, JSON.stringify({ id: 2, image_id: 7, category_id: 3, bbox: [0, 0, 4, 3] }));
      writeSync(fd, '], "images": [{"id": 7, "file_name": "a.png", "width": 8, "height": 6}], "categories": [{"id": 3, "name": "thing"}]}');
    } finally {
      closeSync(fd);
    }
    expect(statSync(path).size).toBeGreaterThan(constants.MAX_STRING_LENGTH);
    const read = await importers.coco(path, { imageSize: async () => ({ width: 8, height: 6, of: 'file' }) });
    expect(read.labels).toEqual(['thing']);
    expect(read.annotations).toHaveLength(1);
    expect(read.annotations[0]!.imageKey).toBe('a.png');
    // the polygon (1,1)-(6,4) filled at pixel centres: columns 1..5, rows 1..3
    expect(read.annotations[0]!.mask.data.reduce((a, b) => a + b, 0)).toBe(15);
    expect(read.boxes).toEqual([{ imageKey: 'a.png', labelName: 'thing', bbox: [0, 0, 4, 3] }]);
    rmSync(path);
  }, 120_000);
});
