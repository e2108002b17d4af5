/** Checkpoints crafted to exhaust memory: every allocation is bounded by what the file can hold. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../main/sam/checkpoint/index.ts';
import { importModel } from '../../main/sam/model-dir.ts';
import { dictPickle, float32Bytes, op, tensorPickle, writeStoredZip, writeSyntheticPth } from '../helpers/torch-save.ts';

const dir = mkdtempSync(join(tmpdir(), 'checkpoint-bombs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tensor(name: string, key: string, storageNumel: number, shape: number[], stride: number[]): [string, Buffer] {
  return [name, tensorPickle({ name, storageType: 'FloatStorage', key, storageNumel, offset: 0, shape, stride })];
}

describe('torch.save zip files', () => {
  it('refuses a stride-0 tensor that would read one stored float as 16 million', async () => {
    const path = join(dir, 'stride0.pth');
    writeSyntheticPth(path, dictPickle([tensor('w', '0', 1, [4096, 4096], [0, 0])]), { 0: float32Bytes([1]) });
    await expect(readCheckpoint(path)).rejects.toThrow("stride0.pth: tensor 'w' has a size/stride layout whose elements overlap (stride [0, 0] for size [4096, 4096])");
  });

  it('refuses a layout whose rows step inside each other', async () => {
    const path = join(dir, 'overlap.pth');
    writeSyntheticPth(path, dictPickle([tensor('w', '0', 64, [32, 32], [1, 1])]), { 0: new Uint8Array(64 * 4) });
    await expect(readCheckpoint(path)).rejects.toThrow(/overlap.pth: tensor 'w' has a size\/stride layout whose elements overlap/);
  });

  it('refuses many tensors reading the same storage over and over', async () => {
    const path = join(dir, 'shared.pth');
    const entries = Array.from({ length: 50 }, (_, i) => tensor(`w${i}`, '0', 1024, [1024], [1]));
    writeSyntheticPth(path, dictPickle(entries), { 0: new Uint8Array(1024 * 4) });
    await expect(readCheckpoint(path)).rejects.toThrow('shared.pth: storage 0 of 1024 elements is read as 51200 elements by 50 tensors');
  });

  it('does not inflate a data.pkl larger than a state dict needs', async () => {
    const path = join(dir, 'pickle-bomb.pth');
    const pickle = Buffer.concat([op.proto(), Buffer.alloc(64 << 20), op.stop()]);
    writeStoredZip(path, [['archive/data.pkl', pickle], ['archive/byteorder', Buffer.from('little')]], new Set(['archive/data.pkl']));
    await expect(readCheckpoint(path)).rejects.toThrow(`pickle-bomb.pth: data.pkl would inflate to ${pickle.length} bytes, more than the ${16 << 20} a state dict's pickle needs`);
  });

  it('refuses a compressed storage that claims far more than its bytes can give', async () => {
    const path = join(dir, 'storage-bomb.pth');
    const numel = 4 << 20;
    writeStoredZip(path, [
      ['archive/data.pkl', Buffer.concat([op.proto(), dictPickle([tensor('w', '0', numel, [numel], [1])]), op.stop()])],
      ['archive/byteorder', Buffer.from('little')],
      ['archive/data/0', new Uint8Array(numel * 4)],
    ], new Set(['archive/data/0']));
    await expect(readCheckpoint(path)).rejects.toThrow(/storage-bomb\.pth: storage 0 would inflate from \d+ to 16777216 bytes; weights do not compress that well/);
  });

  it('checks the names before reading any storage', async () => {
    const path = join(dir, 'not-sam.pth');
    // the storage entry is missing: reading it would fail, so the names must be refused first
    writeSyntheticPth(path, dictPickle([tensor('fc.weight', '0', 4, [4], [1])]), {});
    const out = join(dir, 'not-sam-model');
    await expect(importModel(path, out)).rejects.toThrow('not-sam.pth: not a SAM checkpoint (no image_encoder / mask_decoder tensors; found e.g. fc.weight)');
  });
});

describe('safetensors files', () => {
  it('refuses tensors whose data_offsets overlap', async () => {
    const path = join(dir, 'overlap.safetensors');
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 8; i++) header[`w${i}`] = { dtype: 'F32', shape: [1024], data_offsets: [0, 4096] };
    const json = JSON.stringify(header);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(path, Buffer.concat([length, Buffer.from(json), Buffer.alloc(4096)]));
    await expect(readCheckpoint(path)).rejects.toThrow("overlap.safetensors: tensors 'w0' and 'w1' overlap in the file (data_offsets 0..4096 and 0..4096)");
  });
});
