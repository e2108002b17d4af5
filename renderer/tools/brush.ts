/**
 * Brush and eraser: idle -> painting (button held). The stroke is sent once, on release, and
 * becomes one undo step: the brush paints into the selected annotation (or starts a new one),
 * the eraser removes pixels from the selected annotation.
 */
import type { Draft, Tool, ToolHost, ToolPointer } from './types.ts';

export class StrokeTool implements Tool {
  readonly needsModel = false;
  #state: 'idle' | 'painting' = 'idle';
  #points: [number, number][] = [];

  constructor(readonly id: 'brush' | 'eraser', private readonly host: ToolHost) {}

  get #value(): 0 | 1 { return this.id === 'brush' ? 1 : 0; }

  get path(): string { return `${this.id}.${this.#state}`; }

  pointerDown(e: ToolPointer): void {
    if (e.button !== 0) return;
    this.#points = [[e.imagePx.x, e.imagePx.y]];
    this.#state = 'painting';
  }

  pointerMove(e: ToolPointer): void {
    if (this.#state === 'painting') this.#points = [...this.#points, [e.imagePx.x, e.imagePx.y]];
  }

  pointerUp(): void {
    if (this.#state !== 'painting') return;
    this.host.commitStroke(this.#points, this.#value);
    this.reset();
  }

  key(key: string): boolean {
    if (key === 'Escape' && this.#state === 'painting') { this.reset(); return true; }
    return false;
  }

  draft(): Draft | null {
    return this.#state === 'painting' ? { kind: 'stroke', points: this.#points, radiusPx: this.host.brushRadius(), value: this.#value } : null;
  }

  reset(): void {
    this.#state = 'idle';
    this.#points = [];
  }
}
