/** The shapes every checkpoint reader returns, whatever the container. */

export type CheckpointDtype = 'float32' | 'float16' | 'bfloat16';

export interface CheckpointTensor {
  shape: number[];
  /** The dtype stored in the file; `data` is always float32. */
  dtype: CheckpointDtype;
  data: Float32Array;
}

export type StateDict = Map<string, CheckpointTensor>;

export interface ReadCheckpointOptions {
  /** Called after each tensor's bytes are read: storage bytes done and in all. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * Called with the tensor names before any tensor's bytes are read; throws to refuse the file
   * (a checkpoint that is not the expected model is refused before it costs memory).
   */
  checkNames?: (names: string[]) => void;
}
