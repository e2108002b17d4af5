/**
 * The app's onnxruntime sessions flush denormal floats to zero (sam/session-config.ts): an
 * operation on one is slow on Intel CPUs, and attention probabilities underflow into them. The
 * flag reaches the calling thread only through the process's first session, which this file
 * (a process of its own) creates below with the app's configuration.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel, GraphBuilder } from '../../main/onnx/index.ts';
import { SESSION_CONFIG } from '../../main/sam/session-config.ts';

const N = 1 << 20;

/** y = 2x over N floats, every other one a denormal (1e-39), the rest 1.5 */
async function doubled(threads: number): Promise<Float32Array> {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [N]);
  b.identity(b.op('Mul', [x, b.constF([2])]), 'y');
  b.output('y', 'float32', [N]);
  const session = await ort.InferenceSession.create(encodeModel(b.build('doubled')), { intraOpNumThreads: threads, extra: SESSION_CONFIG });
  try {
    const input = Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1e-39 : 1.5));
    return (await session.run({ x: new ort.Tensor('float32', input, [N]) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('onnxruntime sessions with the app\'s configuration', () => {
  for (const threads of [1, 2]) {
    it(`flush denormal floats to zero and keep the others (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const y = await doubled(threads);
      expect(1e-39 * 2).toBeGreaterThan(0); // JavaScript's own arithmetic keeps them
      let flushed = 0, kept = 0;
      for (let i = 0; i < N; i++) {
        if (i % 2 && y[i] === 0) flushed += 1;
        if (!(i % 2) && y[i] === 3) kept += 1;
      }
      expect({ flushed, kept }).toEqual({ flushed: N / 2, kept: N / 2 });
    });
  }
});
