/**
 * Manual polygon tool: idle -> placing (each click adds a vertex) -> closing (the cursor is on
 * the first vertex; a click there closes it). Enter closes too, Backspace (and Ctrl+Z) removes
 * the last vertex, Escape drops the polygon. Works without a model.
 */
import type { Draft, Point, Tool, ToolHost, ToolPointer } from './types.ts';

const CLOSE_RADIUS_STAGE_PX = 8;

export class PolygonTool implements Tool {
  readonly id = 'polygon';
  readonly needsModel = false;
  #state: 'idle' | 'placing' | 'closing' = 'idle';
  #points: [number, number][] = [];
  #cursor: Point | null = null;

  constructor(private readonly host: ToolHost) {}

  get path(): string { return `polygon.${this.#state}`; }

  #nearFirst(p: Point): boolean {
    const first = this.#points[0];
    if (!first || this.#points.length < 3) return false;
    return Math.hypot(p.x - first[0], p.y - first[1]) * this.host.scale() <= CLOSE_RADIUS_STAGE_PX;
  }

  #commit(): void {
    if (this.#points.length >= 3) this.host.commitPolygon(this.#points);
    this.reset();
  }

  pointerDown(e: ToolPointer): void {
    if (e.button !== 0) return;
    if (this.#state === 'closing') { this.#commit(); return; }
    this.#points = [...this.#points, [e.imagePx.x, e.imagePx.y]];
    this.#state = 'placing';
  }

  pointerMove(e: ToolPointer): void {
    this.#cursor = e.imagePx;
    if (this.#state === 'idle') return;
    this.#state = this.#nearFirst(e.imagePx) ? 'closing' : 'placing';
  }

  pointerUp(): void {}

  key(key: string): boolean {
    if (this.#state === 'idle') return false;
    if (key === 'Enter') { this.#commit(); return true; }
    if (key === 'Escape') { this.reset(); return true; }
    if (key === 'Backspace') {
      this.#points = this.#points.slice(0, -1);
      // placing again: the next pointer move tells whether the cursor is on the first vertex (closing)
      this.#state = this.#points.length === 0 ? 'idle' : 'placing';
      return true;
    }
    return false;
  }

  draft(): Draft | null {
    return this.#state === 'idle' ? null : { kind: 'polygon', points: this.#points, cursor: this.#cursor, closing: this.#state === 'closing' };
  }

  reset(): void {
    this.#state = 'idle';
    this.#points = [];
  }
}
