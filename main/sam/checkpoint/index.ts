/**
 * Checkpoint readers: PyTorch `torch.save` zip files (`.pth`) and `.safetensors`, read in
 * TypeScript with no Python, into a map of float32 tensors. The container is recognised by its
 * bytes, not its extension. Pickles are read by our own small VM that only knows tensors and dicts
 * and never runs code. Plain Node: no electron. Tests: tests/sam/checkpoint.test.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { checkpointError, namedError } from './errors.ts';
import { readSafetensors } from './safetensors.ts';
import { readTorchZip } from './torch-zip.ts';
import type { ReadCheckpointOptions, StateDict } from './types.ts';

export type { CheckpointDtype, CheckpointTensor, ReadCheckpointOptions, StateDict } from './types.ts';

type Container = 'torch-zip' | 'safetensors';

const zipMagic = [0x50, 0x4b, 0x03, 0x04];

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function detectContainer(path: string, head: Uint8Array): Container {
  if (head.length === 0) throw checkpointError(path, 'empty file, not a checkpoint');
  if (zipMagic.every((byte, i) => i >= head.length || head[i] === byte)) {
    if (head.length < zipMagic.length) throw checkpointError(path, 'truncated checkpoint (zip central directory not found)');
    return 'torch-zip';
  }
  // A safetensors header is JSON right after its 8-byte length.
  if (head.length > 8 && head[8] === 0x7b) return 'safetensors';
  // Legacy torch.save (before PyTorch 1.6) is a bare pickle starting with PROTO 2 and a LONG1 magic number.
  if (head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a) {
    throw checkpointError(path, 'legacy torch.save format (PyTorch < 1.6) is not supported; re-save it with a newer PyTorch');
  }
  throw checkpointError(path, 'not a checkpoint (neither a PyTorch zip checkpoint nor a safetensors file)');
}

const readers: Record<Container, (path: string, options: ReadCheckpointOptions) => Promise<StateDict>> = {
  'torch-zip': readTorchZip,
  safetensors: readSafetensors,
};

/** Reads .pth (zip) or .safetensors by content (magic bytes), not by extension. */
export async function readCheckpoint(path: string, opts: ReadCheckpointOptions = {}): Promise<StateDict> {
  try {
    opts.signal?.throwIfAborted();
    return await readers[detectContainer(path, await readHead(path))](path, opts);
  } catch (error) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw namedError(path, error);
  }
}

/** Hex sha256 of a file, streamed so that multi-gigabyte checkpoints never sit in memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (error) {
    throw namedError(path, error);
  }
  return hash.digest('hex');
}
