/**
 * SAM box tool: idle -> pointing (button down) -> dragging (moved past a few screen pixels) ->
 * refining (box sent; clicks add positive / negative points that refine it). Enter accepts;
 * Backspace (and Ctrl+Z) takes back the last point, then the box; Escape goes back to idle from
 * any state, dropping the box (the mark set when it started).
 */
import type { Draft, Point, Tool, ToolHost, ToolPointer } from './types.ts';

const DRAG_THRESHOLD_STAGE_PX = 4;

export class BoxTool implements Tool {
  readonly id = 'box';
  readonly needsModel = true;
  #state: 'idle' | 'pointing' | 'dragging' | 'refining' = 'idle';
  #start: Point = { x: 0, y: 0 };
  #end: Point = { x: 0, y: 0 };

  constructor(private readonly host: ToolHost) {}

  get path(): string { return `box.${this.#state}`; }

  #box(): [number, number, number, number] {
    return [Math.min(this.#start.x, this.#end.x), Math.min(this.#start.y, this.#end.y), Math.max(this.#start.x, this.#end.x), Math.max(this.#start.y, this.#end.y)];
  }

  pointerDown(e: ToolPointer): void {
    if (this.#state === 'refining') {
      this.host.click(e.imagePx, e.button === 2 || e.shift ? 0 : 1);
      return;
    }
    if (e.button !== 0) return;
    this.#start = e.imagePx;
    this.#end = e.imagePx;
    this.#state = 'pointing';
  }

  pointerMove(e: ToolPointer): void {
    if (this.#state === 'pointing') {
      const d = Math.hypot(e.imagePx.x - this.#start.x, e.imagePx.y - this.#start.y) * this.host.scale();
      if (d >= DRAG_THRESHOLD_STAGE_PX) this.#state = 'dragging';
    }
    if (this.#state === 'dragging') this.#end = e.imagePx;
  }

  pointerUp(e: ToolPointer): void {
    if (this.#state === 'pointing') { this.#state = 'idle'; return; }
    if (this.#state !== 'dragging') return;
    this.#end = e.imagePx;
    this.#state = 'refining';
    this.host.setBox(this.#box());
  }

  key(key: string): boolean {
    if (key === 'Enter' && this.#state === 'refining') { this.host.accept(); this.#state = 'idle'; return true; }
    if (key === 'Escape' && this.#state !== 'idle') { this.host.clear(); this.#state = 'idle'; return true; }
    if (key === 'Backspace' && this.#state === 'refining') { if (!this.host.removeLastPrompt()) this.#state = 'idle'; return true; }
    return false;
  }

  draft(): Draft | null {
    return this.#state === 'dragging' || this.#state === 'refining' ? { kind: 'box', box: this.#box() } : null;
  }

  reset(): void { this.#state = 'idle'; }
}
