/**
 * The contract between the canvas and the tools. Each tool is a small state machine (tldraw's
 * StateNode idea): it receives pointer and key events in image pixels and asks the host to do
 * things; it never draws. Its `path` (e.g. 'box.dragging') names the state for tests.
 */
export type Point = { x: number; y: number };

export interface ToolPointer {
  imagePx: Point;
  /** 0 left, 2 right */
  button: number;
  shift: boolean;
}

export interface ToolHost {
  /** stage pixels per image pixel, for thresholds that should feel the same at any zoom */
  scale(): number;
  hover(at: Point): void;
  /** a SAM point; false when none was placed (outside the image, no model) */
  click(at: Point, label: 0 | 1): boolean;
  setBox(box: [number, number, number, number]): void;
  /** takes back the last SAM point, then the box; false when no prompt is left */
  removeLastPrompt(): boolean;
  accept(): void;
  clear(): void;
  commitPolygon(points: [number, number][]): void;
  commitStroke(points: [number, number][], value: 0 | 1): void;
  brushRadius(): number;
  /** "segment everything": accept the proposal under a point */
  pickProposal(at: Point): void;
  /** "segment everything": accept every proposal shown */
  acceptAllProposals(): void;
}

/** What the canvas draws for a gesture in progress. */
export type Draft =
  | { kind: 'box'; box: [number, number, number, number] }
  | { kind: 'polygon'; points: [number, number][]; cursor: Point | null; closing: boolean }
  | { kind: 'stroke'; points: [number, number][]; radiusPx: number; value: 0 | 1 };

/** The tools, in the toolbar's order. */
export const TOOL_IDS = ['point', 'box', 'everything', 'polygon', 'brush', 'eraser'] as const;
export type ToolId = (typeof TOOL_IDS)[number];

export interface Tool {
  readonly id: ToolId;
  /** the active state path, e.g. 'polygon.placing' */
  readonly path: string;
  /** SAM tools need a model; manual tools work without one */
  readonly needsModel: boolean;
  pointerDown(e: ToolPointer): void;
  pointerMove(e: ToolPointer): void;
  pointerUp(e: ToolPointer): void;
  /** Enter, Escape, Backspace; returns whether the tool used the key */
  key(key: string): boolean;
  draft(): Draft | null;
  /** leaving the tool (another tool chosen, image switched) */
  reset(): void;
}
