import { readFileSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findModel, loadCatalog, parseCatalog, preferredModel, speedClass } from '../../main/setup/catalog.ts';
import { closeServerAndFolder, openServerAndFolder, type TestServer } from './fixture-server.ts';

const tinyConfig = JSON.parse(readFileSync(new URL('../fixtures/sam-tiny/config.json', import.meta.url), 'utf8'));

const pth = {
  id: 'tiny',
  name: 'SAM tiny',
  format: 'pth',
  url: 'http://127.0.0.1:1/sam_tiny.pth',
  md5: '30a26176096b16213ff78d6c24c61c1f',
  bytes: 14545147,
  licence: 'Apache-2.0',
};

function withModel(model: Record<string, unknown>): string {
  return JSON.stringify({ models: [model] });
}

function problem(model: Record<string, unknown>): string {
  try {
    parseCatalog(withModel(model), 'test.json');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the catalog was accepted');
}

describe('the bundled catalog', () => {
  it('lists SAM 2.1 from the hub (hub.test.ts), then the official SAM ViT-B, ViT-L and ViT-H checkpoints by MD5, all under Apache-2.0', async () => {
    const catalog = await loadCatalog();
    expect(catalog.models.map((m) => m.id)).toEqual(['sam2.1_hiera_tiny', 'sam2.1_hiera_small', 'sam2.1_hiera_base_plus', 'sam2.1_hiera_large', 'sam_vit_b', 'sam_vit_l', 'sam_vit_h']);
    const vitB = findModel(catalog, 'sam_vit_b');
    expect(vitB.files).toEqual([{
      role: 'checkpoint',
      url: 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth',
      expected: { algorithm: 'md5', digest: '01ec64d29a2fca3f0661936605ae66f8' },
      fileName: 'sam_vit_b_01ec64.pth',
    }]);
    expect(catalog.models.every((m) => m.licence === 'Apache-2.0' && m.format === 'pth')).toBe(true);
  });

  it('gives every model its CPU speed: measured by bench sam for ViT-B, Hiera-T and Hiera-S, estimated for the others', async () => {
    const catalog = await loadCatalog();
    const speeds = Object.fromEntries(catalog.models.map((m) => [m.id, [m.speed!.encoderCpuSeconds, m.speed!.clickCpuMs, m.speed!.estimated, speedClass(m.speed!)]]));
    expect(speeds).toEqual({
      'sam2.1_hiera_tiny': [4.4, 181, false, 'fast'],
      'sam2.1_hiera_small': [4.8, 133, false, 'fast'],
      'sam2.1_hiera_base_plus': [9.8, 157, true, 'medium'],
      'sam2.1_hiera_large': [32.4, 157, true, 'slow'],
      sam_vit_b: [14, 143, false, 'medium'],
      sam_vit_l: [49.8, 143, true, 'slow'],
      sam_vit_h: [103.7, 143, true, 'slow'],
    });
  });

  it('makes SAM 2.1 Hiera-T, the fastest measured encoder, the first choice', async () => {
    expect(preferredModel(await loadCatalog())?.id).toBe('sam2.1_hiera_tiny');
  });

  it('names each file after the first six digits of its MD5', async () => {
    const catalog = await loadCatalog();
    for (const model of catalog.models.filter((m) => !m.hub)) {
      const file = model.files[0]!;
      expect(file.fileName).toBe(`${model.id}_${file.expected.digest.slice(0, 6)}.pth`);
    }
  });
});

describe('parseCatalog', () => {
  it('reads "speed" and refuses a speed that is not positive CPU time, or an unknown speed field', () => {
    const speed = { encoder_cpu_s: 7.5, click_cpu_ms: 120 };
    expect(parseCatalog(withModel({ ...pth, speed }), 'test.json').models[0]!.speed).toEqual({ encoderCpuSeconds: 7.5, clickCpuMs: 120, estimated: false });
    expect(problem({ ...pth, speed: { ...speed, encoder_cpu_s: 0 } })).toBe('test.json: model "tiny": "speed.encoder_cpu_s" must be the CPU seconds of one fp32 encoder pass, a positive number');
    expect(problem({ ...pth, speed: { ...speed, click_cpu_ms: '120' } })).toBe('test.json: model "tiny": "speed.click_cpu_ms" must be the CPU milliseconds of one click to mask, a positive number');
    expect(problem({ ...pth, speed: { ...speed, estimated: 'yes' } })).toBe('test.json: model "tiny": "speed.estimated" must be true or false');
    expect(problem({ ...pth, speed: { ...speed, encoder_s: 3 } })).toBe('test.json: model "tiny": "speed.encoder_s" is not a speed field (encoder_cpu_s, click_cpu_ms, estimated)');
    expect(problem({ ...pth, speed: [1, 2] })).toMatch(/"speed" must be an object/);
  });

  it('classes speeds by fixed encoder thresholds and prefers the fastest measured model, not an estimate', () => {
    const at = (s: number) => speedClass({ encoderCpuSeconds: s, clickCpuMs: 100, estimated: false });
    expect([at(1), at(8), at(8.1), at(20), at(20.1)]).toEqual(['fast', 'fast', 'medium', 'medium', 'slow']);
    const models = [
      { ...pth, id: 'a', speed: { encoder_cpu_s: 10, click_cpu_ms: 100 } },
      { ...pth, id: 'b', speed: { encoder_cpu_s: 1, click_cpu_ms: 100, estimated: true } },
      { ...pth, id: 'c', speed: { encoder_cpu_s: 5, click_cpu_ms: 100 } },
      { ...pth, id: 'd' },
    ];
    expect(preferredModel(parseCatalog(JSON.stringify({ models }), 'test.json'))?.id).toBe('c');
    expect(preferredModel(parseCatalog(JSON.stringify({ models: [models[3], models[1]] }), 'test.json'))?.id).toBe('d');
  });

  it('refuses a file name that decodes to a path leaving the download folder', () => {
    expect(problem({ ...pth, url: 'https://h/..%2F..%2F..%2F..%2F.config%2Fautostart%2Fx.desktop' }))
      .toBe('test.json: model "tiny": "url" must end with a plain file name (letters, digits, ".", "_", "+", "-"), got "../../../../.config/autostart/x.desktop"');
    expect(problem({ ...pth, url: 'https://h/..%5Cevil.pth' })).toMatch(/"url" must end with a plain file name .* got "\.\.\\\\evil\.pth"$/);
    expect(problem({ ...pth, url: 'https://h/.hidden' })).toMatch(/"url" must end with a plain file name/);
  });

  it('names the entry when a "%" escape in its URL is malformed', () => {
    expect(problem({ ...pth, url: 'https://h/sam%E0%A4%A.pth' })).toBe('test.json: model "tiny": "url" has a malformed "%" escape in its file name "sam%E0%A4%A.pth"');
  });

  it('accepts an entry with a config for a size that is not ViT-B/L/H', () => {
    const catalog = parseCatalog(withModel({ ...pth, config: tinyConfig }), 'test.json');
    expect(catalog.models[0]!.config?.encoder_embed_dim).toBe(64);
  });

  it('accepts an ONNX pair with per-file sha256s', () => {
    const pair = {
      id: 'pair', name: 'A pair', format: 'onnx-pair', bytes: 10, licence: 'Apache-2.0',
      urls: { encoder: 'https://h/enc.onnx', decoder: 'https://h/dec.onnx' },
      sha256s: { encoder: 'a'.repeat(64), decoder: 'B'.repeat(64) },
    };
    const model = parseCatalog(withModel(pair), 'test.json').models[0]!;
    expect(model.files.map((f) => [f.role, f.fileName, f.expected.digest])).toEqual([
      ['encoder', 'enc.onnx', 'a'.repeat(64)],
      ['decoder', 'dec.onnx', 'b'.repeat(64)],
    ]);
  });

  it('names the entry and the field of a malformed checksum', () => {
    expect(problem({ ...pth, md5: 'xyz' })).toBe('test.json: model "tiny": "md5" must be 32 hex digits (md5)');
  });

  it('requires exactly one kind of checksum', () => {
    expect(problem({ ...pth, sha256: 'a'.repeat(64) })).toBe('test.json: model "tiny": needs exactly one of "sha256" or "md5"');
    const { md5: _md5, ...noHash } = pth;
    expect(problem(noHash)).toBe('test.json: model "tiny": needs exactly one of "sha256" or "md5"');
  });

  it('rejects a URL that is not http(s)', () => {
    expect(problem({ ...pth, url: 'ftp://h/x.pth' })).toBe('test.json: model "tiny": "url" must be an http(s) URL, got "ftp://h/x.pth"');
  });

  it('rejects a size that is not a positive integer', () => {
    expect(problem({ ...pth, bytes: '14 MB' })).toBe('test.json: model "tiny": "bytes" must be a positive integer');
  });

  it('rejects an unknown format', () => {
    expect(problem({ ...pth, format: 'tflite' })).toBe('test.json: model "tiny": "format" must be "pth" or "onnx-pair", got "tflite"');
  });

  it('rejects an entry without a licence', () => {
    expect(problem({ ...pth, licence: '' })).toBe('test.json: model "tiny": "licence" must name the licence, e.g. "Apache-2.0"');
  });

  it('rejects an ONNX pair without a decoder URL', () => {
    const pair = { id: 'pair', name: 'p', format: 'onnx-pair', bytes: 1, licence: 'MIT', urls: { encoder: 'https://h/e.onnx' }, md5s: { encoder: 'a'.repeat(32), decoder: 'a'.repeat(32) } };
    expect(problem(pair)).toBe('test.json: model "pair": "urls.decoder" must be a URL string');
  });

  it('rejects a config value of the wrong type, naming the entry', () => {
    expect(problem({ ...pth, config: { ...tinyConfig, qkv_bias: 'yes' } })).toBe('test.json: model "tiny": "config": "qkv_bias" must be true or false');
  });

  it('rejects a model listed twice', () => {
    expect(() => parseCatalog(JSON.stringify({ models: [pth, pth] }), 'test.json')).toThrow('test.json: model "tiny" is listed twice');
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseCatalog('{models:', 'test.json')).toThrow(/^test\.json: not valid JSON/);
  });
});

describe('loadCatalog', () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => ({ server, dir } = await openServerAndFolder('catalog-test-')));
  afterAll(() => closeServerAndFolder(server, dir));

  it('reads a catalog from a file', async () => {
    const file = join(dir, 'catalog.json');
    writeFileSync(file, withModel(pth));
    expect((await loadCatalog(file)).models[0]!.id).toBe('tiny');
  });

  it('reads a catalog from an http URL', async () => {
    server.route('/catalog.json', (_req, res) => res.end(withModel(pth)));
    const catalog = await loadCatalog(server.url('/catalog.json'));
    expect(catalog.source).toBe(server.url('/catalog.json'));
    expect(catalog.models[0]!.id).toBe('tiny');
  });

  it('says which catalog file cannot be read', async () => {
    await expect(loadCatalog(join(dir, 'missing.json'))).rejects.toThrow(`catalog ${join(dir, 'missing.json')} cannot be read (ENOENT)`);
  });

  it('lists the known ids when a model is not in the catalog', async () => {
    const catalog = await loadCatalog();
    expect(() => findModel(catalog, 'sam_vit_x')).toThrow('no model "sam_vit_x" (known: sam2.1_hiera_tiny, sam2.1_hiera_small, sam2.1_hiera_base_plus, sam2.1_hiera_large, sam_vit_b, sam_vit_l, sam_vit_h)');
  });
});
