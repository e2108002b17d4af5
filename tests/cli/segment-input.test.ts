/** `segment` and `embed` against wrong input: stray arguments, non-decimal numbers, bad --mask-input arrays, --out files in the way. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrompt } from '../../main/cli/segment.ts';
import { decimal, integerOption, parseArgs } from '../../main/cli/args.ts';
import { encodeNpy, readNpy, readNpyFloat32, writeNpy } from '../../main/sam/npy.ts';
import { runCli } from '../helpers/cli.ts';
import { SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';
import { sam2Fixture, sam2TinyModelDir } from '../helpers/sam2-tiny.ts';

const dir = mkdtempSync(join(tmpdir(), 'segment-input-'));
const landscape = join(SAM_TINY, 'landscape.png');
let model = '';
let cleanupModel = () => {};
beforeAll(async () => {
  ({ dir: model, cleanup: cleanupModel } = await samTinyModelDir());
});
afterAll(() => {
  cleanupModel();
  rmSync(dir, { recursive: true, force: true });
});

/** Expects exit code 1 with one error line matching `what`, and nothing at `out` or beside it. */
function expectRefused(args: string[], what: RegExp, out: string): void {
  const r = runCli(args);
  expect(r.code).toBe(1);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(what);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

/** `text` as a pattern that matches it literally (temporary paths may hold pattern characters). */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function segmentArgs(out: string, ...more: string[]): string[] {
  return ['segment', '--model', model, '--image', landscape, ...more, '--out', out];
}

describe('arguments after a flag\'s value', () => {
  it.each([
    ['a second point after --point', '20,20,0'],
    ['a stray word after --point', 'extra_garbage'],
  ])('segment refuses %s, naming it', (_, extra) => {
    const out = join(dir, `stray-${extra}`);
    expectRefused(segmentArgs(out, '--point', '10,10,1', extra), new RegExp(`^error: segment: unexpected argument "${extra}"$`), out);
  });

  it('embed refuses a positional argument, naming it', () => {
    const out = join(dir, 'stray.npy');
    expectRefused(['embed', '--model', model, '--image', landscape, 'extra_positional', '--out', out], /^error: embed: unexpected argument "extra_positional"$/, out);
  });
});

describe('numbers of --point and --box', () => {
  it.each(['0x10', '0b1', '0o7', '', ' ', 'Infinity', '1e999', '1_0', '10px'])('refuses %j as a coordinate', (bad) => {
    expect(() => parsePrompt([`${bad},10,1`], undefined)).toThrow(`--point "${bad},10,1": "${bad}" is not a number`);
    expect(() => parsePrompt([], `10,${bad},30,40`)).toThrow(`--box "10,${bad},30,40": "${bad}" is not a number`);
  });

  it('reads decimals with a sign, a fraction or an exponent', () => {
    expect(parsePrompt(['10.5,-2,1', '.5, +3e1 ,0'], '1E1,2.,30,40')).toEqual({
      points: [{ x: 10.5, y: -2, label: 1 }, { x: 0.5, y: 30, label: 0 }],
      box: [10, 2, 30, 40],
    });
  });

  it('segment refuses a hexadecimal coordinate instead of reading it as 16', () => {
    const out = join(dir, 'hex');
    expectRefused(segmentArgs(out, '--point', '0x10,10,1'), /^error: --point "0x10,10,1": "0x10" is not a number$/, out);
  });
});

describe('--mask-input', () => {
  const plane = 256 * 256;

  it('refuses a missing file, naming it', () => {
    const out = join(dir, 'mi-missing');
    const missing = join(dir, 'npy', 'missing.npy');
    expectRefused(segmentArgs(out, '--point', '10,10,1', '--mask-input', missing), new RegExp(`^error: ${literal(missing)}: --mask-input file not found$`), out);
  });

  it('refuses a folder, naming it', () => {
    const out = join(dir, 'mi-folder');
    const folder = join(dir, 'a-folder.npy');
    mkdirSync(folder);
    expectRefused(segmentArgs(out, '--point', '10,10,1', '--mask-input', folder), new RegExp(`^error: ${literal(folder)}: --mask-input is not a file$`), out);
  });

  it.each([
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ])('refuses a logit of %s, naming the file and where it is', (value, text) => {
    const file = join(dir, `logit-${text}.npy`);
    const data = new Float32Array(plane);
    data[3 * 256 + 7] = value;
    writeNpy(file, 'float32', [1, 1, 256, 256], data);
    const out = join(dir, `mi-${text}`);
    expectRefused(segmentArgs(out, '--point', '10,10,1', '--mask-input', file),
      new RegExp(`^error: ${literal(file)}: --mask-input must hold finite numbers, found ${text} at \\[0,0,3,7\\]$`), out);
  });

  it.each([[[256, 1, 256, 1]], [[256, 256]], [[65536]], [[1, 256, 256]], [[1, 1, 256, 256, 1]]])('refuses the shape %j', (shape) => {
    const file = join(dir, `shape-${shape.join('x')}.npy`);
    writeNpy(file, 'float32', shape, new Float32Array(plane));
    const out = join(dir, `mi-${shape.join('x')}`);
    expectRefused(segmentArgs(out, '--point', '10,10,1', '--mask-input', file),
      new RegExp(`^error: ${literal(file)}: --mask-input must be a float32 \\[1,1,256,256\\] array, got float32 \\[${shape.join(',')}\\]$`), out);
  });

  it('takes a [1,1,256,256] array, giving finite logits', () => {
    const file = join(dir, 'good-mask.npy');
    writeNpy(file, 'float32', [1, 1, 256, 256], readNpyFloat32(join(SAM_TINY, 'landscape.case4.in.mask_input.npy')).data);
    const out = join(dir, 'mi-good');
    const r = runCli(segmentArgs(out, '--point', '100,80,1', '--mask-input', file));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const low = readNpyFloat32(join(out, 'low_res_masks.npy'));
    expect(low.shape).toEqual([1, 4, 256, 256]);
    expect(low.data.every(Number.isFinite)).toBe(true);
  });

  it('refuses a .npy whose header shape is not made of integers, naming the file', () => {
    const good = Buffer.from(encodeNpy('float32', [1, 1, 256, 256], new Float32Array(plane))).toString('latin1');
    for (const [dims, name] of [['1, 1, 256, -56', 'negative'], ['1, 1, 256, 2.5', 'fraction'], ['1, 1, 256, abc', 'word']] as const) {
      const file = join(dir, `header-${name}.npy`);
      // same length as "1, 1, 256, 256": the header stays well formed but for the shape
      writeFileSync(file, Buffer.from(good.replace('(1, 1, 256, 256)', `(${dims})`), 'latin1'));
      expect(() => readNpy(file)).toThrow(`${file}: malformed .npy shape (${dims})`);
      const out = join(dir, `mi-header-${name}`);
      expectRefused(segmentArgs(out, '--point', '10,10,1', '--mask-input', file), new RegExp(`^error: ${literal(file)}: malformed \\.npy shape`), out);
    }
  });
});

describe('an --out below a file', () => {
  it('is refused before any work, naming the file in the way (segment, project init)', () => {
    const file = join(dir, 'a-plain-file');
    writeFileSync(file, 'kept');
    const out = join(file, 'sub');
    const seg = runCli(segmentArgs(out, '--point', '10,10,1'));
    expect(seg.stderr).toBe(`error: --out ${out}: ${file} is a file, not a folder\n`);
    const init = runCli(['project', 'init', join(out, 'p.db')]);
    expect(init.stderr).toBe(`error: cannot create project ${join(out, 'p.db')}: ${file} is a file, not a folder\n`);
    expect(readFileSync(file, 'utf8')).toBe('kept');
  });
});

describe('embed --out', () => {
  it('refuses an existing file that is not empty, leaving it as it was', () => {
    const out = join(dir, 'kept.npy');
    writeFileSync(out, 'earlier results');
    const r = runCli(['embed', '--model', model, '--image', landscape, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: --out ${out} exists and is not empty\n`);
    expect(readFileSync(out, 'utf8')).toBe('earlier results');
  });

  it('refuses a folder', () => {
    const out = join(dir, 'a-folder-out.npy');
    mkdirSync(out);
    const r = runCli(['embed', '--model', model, '--image', landscape, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: --out ${out} is a directory\n`);
  });

  it('writes over an existing empty file', () => {
    const out = join(dir, 'empty.npy');
    writeFileSync(out, '');
    const r = runCli(['embed', '--model', model, '--image', landscape, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readNpyFloat32(out).shape).toEqual([1, 256, 64, 64]);
  });

  it('refuses a missing folder before it looks at the model', () => {
    const folder = join(dir, 'nonexistent_dir');
    const out = join(folder, 'e.npy');
    const r = runCli(['embed', '--model', model, '--image', landscape, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: --out ${out}: folder ${folder} does not exist\n`);
    // with a folder that is no model, the --out error still comes first: nothing was loaded or encoded
    const early = runCli(['embed', '--model', dir, '--image', landscape, '--out', out]);
    expect(early.stderr).toBe(`error: --out ${out}: folder ${folder} does not exist\n`);
    expect(existsSync(folder)).toBe(false);
  });

  it('refuses, for SAM 2.1, a high-res file beside --out that is not empty', async () => {
    const sam2 = await sam2TinyModelDir();
    try {
      const out = join(dir, 'sam2.npy');
      const beside = join(dir, 'sam2.high_res_feats_1.npy');
      writeFileSync(beside, 'earlier results');
      const r = runCli(['embed', '--model', sam2.dir, '--image', sam2Fixture('landscape.png'), '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: --out ${out}: ${beside} exists and is not empty\n`);
      expect(readFileSync(beside, 'utf8')).toBe('earlier results');
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, 'sam2.high_res_feats_0.npy'))).toBe(false);
    } finally {
      sam2.cleanup();
    }
  });
});

describe('every numeric option reads decimals only', () => {
  it('reads signs, fractions and exponents, and nothing Number() would read besides', () => {
    expect(['10', '-3', '20.5', '.5', '1e3', ' 7 '].map(decimal)).toEqual([10, -3, 20.5, 0.5, 1000, 7]);
    for (const text of ['0x10', '0b1', '0o7', '', ' ', 'Infinity', '1_0', '10px']) expect(decimal(text), text).toBeNaN();
  });
  it('refuses a hexadecimal option value naming the flag', () => {
    const args = parseArgs(['--depth', '0x4'], ['depth']);
    expect(() => integerOption(args, 'depth', 1, 64)).toThrow('--depth must be an integer in [1, 64], got "0x4"');
    const r = runCli(['project', 'export', join(dir, 'none.db'), '--format', 'coco-polygons', '--tolerance', '0x2', '--out', join(dir, 'never')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--tolerance must be a non-negative number of pixels, got "0x2"');
  });
});
