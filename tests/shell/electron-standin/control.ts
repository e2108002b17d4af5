/** The messages between a test (tests/shell/harness.ts) and the stand-in in the app's process. */
export type DialogAnswer = string[] | null;

export type ControlOp =
  | { op: 'menu'; path: string[] }
  /** the next open (or save) dialog answers these paths; null answers "cancelled" */
  | { op: 'answer'; kind: 'open' | 'save'; answer: DialogAnswer }
  | { op: 'setBounds'; bounds: { x?: number; y?: number; width?: number; height?: number } }
  | { op: 'close' }
  | { op: 'state' };

export type ControlRequest = ControlOp & { id: number };

export interface ControlReply { type: 'reply'; id: number; error?: string; value?: unknown }

export type StandinEvent =
  | { type: 'window'; options: Record<string, unknown> }
  | { type: 'dialog'; kind: 'open' | 'save'; options: Record<string, unknown> }
  | { type: 'blocked'; url: string };

export interface WindowState {
  bounds: { x: number; y: number; width: number; height: number } | null;
  maximized: boolean;
  visible: boolean;
  menu: string[];
}

/** What the stand-in prints when the app's process did not end by itself after quitting. */
export const LEFT_RUNNING = 'the main process was still running 5 s after quit (a worker thread, a child process or a timer was left)';
