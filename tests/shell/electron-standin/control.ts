/** The messages between a test (tests/shell/harness.ts) and the stand-in in the app's process. */
export type DialogAnswer = string[] | null;

export type ControlRequest = { id: number } & (
  | { op: 'menu'; path: string[] }
  /** the next open (or save) dialog answers these paths; null answers "cancelled" */
  | { op: 'answer'; kind: 'open' | 'save'; answer: DialogAnswer }
  | { op: 'setBounds'; bounds: { x?: number; y?: number; width?: number; height?: number } }
  | { op: 'close' }
  | { op: 'state' }
);

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
