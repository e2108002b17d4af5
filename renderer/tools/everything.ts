/**
 * "Segment everything" tool: the proposals of the whole image are shown as outlines; a click
 * accepts the proposal under the pointer with the current label, Enter accepts every one shown.
 */
import type { Tool, ToolHost, ToolPointer } from './types.ts';

export class EverythingTool implements Tool {
  readonly id = 'everything';
  readonly needsModel = true;

  constructor(private readonly host: ToolHost) {}

  get path(): string { return 'everything.idle'; }

  pointerDown(e: ToolPointer): void {
    if (e.button === 0) this.host.pickProposal(e.imagePx);
  }

  pointerMove(): void {}

  pointerUp(): void {}

  key(key: string): boolean {
    if (key === 'Enter') { this.host.acceptAllProposals(); return true; }
    return false;
  }

  draft(): null { return null; }

  reset(): void {}
}
