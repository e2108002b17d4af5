/**
 * Every keyboard shortcut of the app, in one table: the key handler and the shortcut sheet (?)
 * both read it. Keys are written as the normalized chord `keyChord` produces ('Ctrl+Shift+Z',
 * 'D', 'Tab', '?'); Ctrl stands for Cmd on macOS.
 */
import type { ToolId } from './tools/types.ts';

export type ActionId =
  | `tool-${ToolId}`
  | 'accept' | 'clear' | 'cycle-candidate' | 'label'
  | 'next-image' | 'prev-image' | 'toggle-done'
  | 'undo' | 'redo' | 'delete-selected' | 'hide-selected'
  | 'fit' | 'one-to-one' | 'opacity-down' | 'opacity-up' | 'toggle-outlines' | 'brush-smaller' | 'brush-bigger'
  | 'export' | 'models' | 'shortcuts' | 'open-project' | 'new-project' | 'add-images'
  // menu and top bar only (no key)
  | 'add-folder' | 'import';

export interface Shortcut {
  keys: string[];
  action: ActionId;
  /** for 'label': which hotkey */
  arg?: string;
  group: 'Tools' | 'SAM' | 'Labels' | 'Images' | 'Editing' | 'View' | 'App';
  description: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ['S'], action: 'tool-point', group: 'Tools', description: 'SAM point tool' },
  { keys: ['X'], action: 'tool-box', group: 'Tools', description: 'SAM box tool' },
  { keys: ['G'], action: 'tool-everything', group: 'Tools', description: 'Segment everything: proposals to accept' },
  { keys: ['P'], action: 'tool-polygon', group: 'Tools', description: 'Polygon tool' },
  { keys: ['B'], action: 'tool-brush', group: 'Tools', description: 'Brush (paints into the selected annotation)' },
  { keys: ['E'], action: 'tool-eraser', group: 'Tools', description: 'Eraser (removes from the selected annotation)' },
  { keys: ['Enter'], action: 'accept', group: 'SAM', description: 'Accept the mask with the current label' },
  { keys: ['Escape'], action: 'clear', group: 'SAM', description: 'Clear the prompts / cancel the gesture' },
  { keys: ['Tab'], action: 'cycle-candidate', group: 'SAM', description: 'Next candidate mask' },
  ...['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((k): Shortcut => ({
    keys: [k], action: 'label', arg: k, group: 'Labels', description: `Label ${k} (relabels the selected annotation)`,
  })),
  { keys: ['D'], action: 'next-image', group: 'Images', description: 'Next image' },
  { keys: ['A'], action: 'prev-image', group: 'Images', description: 'Previous image' },
  { keys: ['Ctrl+D'], action: 'toggle-done', group: 'Images', description: 'Mark the image done / to do' },
  { keys: ['Ctrl+Z'], action: 'undo', group: 'Editing', description: 'Undo (across images); while drawing, the last vertex or point' },
  { keys: ['Ctrl+Shift+Z', 'Ctrl+Y'], action: 'redo', group: 'Editing', description: 'Redo' },
  { keys: ['Delete', 'Backspace'], action: 'delete-selected', group: 'Editing', description: 'Delete the selected annotation; while drawing, the last vertex or point' },
  { keys: ['H'], action: 'hide-selected', group: 'Editing', description: 'Hide / show the selected annotation' },
  { keys: ['F'], action: 'fit', group: 'View', description: 'Fit the image' },
  { keys: ['O'], action: 'one-to-one', group: 'View', description: 'Actual pixels (1:1)' },
  { keys: [','], action: 'opacity-down', group: 'View', description: 'Overlay opacity down' },
  { keys: ['.'], action: 'opacity-up', group: 'View', description: 'Overlay opacity up' },
  { keys: ['L'], action: 'toggle-outlines', group: 'View', description: 'Outlines on / off' },
  { keys: ['['], action: 'brush-smaller', group: 'View', description: 'Smaller brush' },
  { keys: [']'], action: 'brush-bigger', group: 'View', description: 'Bigger brush' },
  { keys: ['Ctrl+E'], action: 'export', group: 'App', description: 'Export…' },
  { keys: ['M'], action: 'models', group: 'App', description: 'Models page' },
  { keys: ['?'], action: 'shortcuts', group: 'App', description: 'This sheet' },
  { keys: ['Ctrl+O'], action: 'open-project', group: 'App', description: 'Open a project' },
  { keys: ['Ctrl+N'], action: 'new-project', group: 'App', description: 'New project' },
  { keys: ['Ctrl+I'], action: 'add-images', group: 'App', description: 'Add images' },
];

/** Also the mouse, listed on the sheet. */
export const MOUSE_HELP: [string, string][] = [
  ['Left click', 'positive point (SAM tools), vertex (polygon), paint (brush)'],
  ['Right click / Shift+click', 'negative point'],
  ['Wheel', 'zoom about the cursor'],
  ['Space+drag / middle drag', 'pan'],
];

/** The chord of a key event: modifiers then the key, letters upper case; Shift is implied for symbols. */
export function keyChord(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey'>): string {
  const letter = /^[a-z]$/i.test(e.key);
  const key = letter ? e.key.toUpperCase() : e.key;
  const mods = [
    e.ctrlKey || e.metaKey ? 'Ctrl' : '',
    e.altKey ? 'Alt' : '',
    e.shiftKey && (letter || key.length > 1) ? 'Shift' : '',
  ].filter(Boolean);
  return [...mods, key].join('+');
}

const BY_CHORD = new Map(SHORTCUTS.flatMap((s) => s.keys.map((k) => [k, s] as const)));

export function findShortcut(chord: string): Shortcut | null {
  return BY_CHORD.get(chord) ?? null;
}
