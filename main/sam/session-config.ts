/**
 * The onnxruntime configuration every session of the app shares: the engine's, the quantizer's
 * calibration graphs, the kernel probe.
 * - Idle threads do not spin: a spinning pool takes the cores from whatever else runs (the
 *   window while a quantization runs, the main process after a click's decoder run).
 * - Denormal floats are flushed to zero. On Intel CPUs an operation on a float below 1.2e-38 takes
 *   on the order of a hundred cycles, and attention probabilities far below a row's largest
 *   underflow into that range: the ViT-B-size decoder's click (prompt part) took 71 ms with them
 *   and 24 ms without on an AVX-512 Xeon (the trained sam-shapes decoder 23-35 against 24 ms,
 *   depending on the click), and every value so flushed is below 1.2e-38.
 * onnxruntime sets the flag on each session's own threads, but on the calling thread only once
 * per process, as the first session created asks: every session here asks, or a first one
 * without it would leave half of each run (the calling thread's share) slow for the process's
 * life.
 */
export const SESSION_CONFIG = { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: '1' } } as const;
