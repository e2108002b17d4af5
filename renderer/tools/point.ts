/**
 * SAM point tool: idle (hover previews) -> refining (points placed). Left click adds a positive
 * point, right or Shift-click a negative one (a click that places none, outside the image,
 * changes nothing); Enter accepts, Backspace (and Ctrl+Z) takes back the last point, Escape
 * returns to idle.
 */
import type { Tool, ToolHost, ToolPointer } from './types.ts';

export class PointTool implements Tool {
  readonly id = 'point';
  readonly needsModel = true;
  #state: 'idle' | 'refining' = 'idle';

  constructor(private readonly host: ToolHost) {}

  get path(): string { return `point.${this.#state}`; }

  pointerDown(e: ToolPointer): void {
    if (this.host.click(e.imagePx, e.button === 2 || e.shift ? 0 : 1)) this.#state = 'refining';
  }

  pointerMove(e: ToolPointer): void {
    if (this.#state === 'idle') this.host.hover(e.imagePx);
  }

  pointerUp(): void {}

  key(key: string): boolean {
    if (key === 'Enter' && this.#state === 'refining') { this.host.accept(); this.#state = 'idle'; return true; }
    if (key === 'Escape' && this.#state === 'refining') { this.host.clear(); this.#state = 'idle'; return true; }
    if (key === 'Backspace' && this.#state === 'refining') { if (!this.host.removeLastPrompt()) this.#state = 'idle'; return true; }
    return false;
  }

  draft(): null { return null; }

  reset(): void { this.#state = 'idle'; }
}
