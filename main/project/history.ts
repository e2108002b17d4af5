/**
 * The edit log: every change to labels and annotations is recorded as row snapshots, the state
 * before and after, in the same transaction as the change. Undo writes the `backward` states,
 * redo the `forward` ones; both are plain "make this row look like this" steps, so replaying
 * works the same after an image switch or a restart. Ids are AUTOINCREMENT, so a row re-created
 * by undo or redo never collides with a row made later.
 */
import type Database from 'better-sqlite3';

export type HistoryTable = 'annotations' | 'labels';

/** The columns that a snapshot carries, per table (the whole row but the id). */
const COLUMNS: Record<HistoryTable, readonly string[]> = {
  annotations: [
    'image_id', 'label_id', 'rle_counts', 'rle_h', 'rle_w', 'bbox_x', 'bbox_y', 'bbox_w', 'bbox_h', 'area',
    'prompts', 'model_id', 'score', 'hidden', 'created_at', 'updated_at',
  ],
  labels: ['name', 'color', 'hotkey', 'sort_order'],
};

export type Row = Record<string, unknown>;

/** One row's state to reach; `row: null` means the row does not exist. */
export interface RowState {
  table: HistoryTable;
  id: number;
  row: Row | null;
}

/** One row's change as an edit made it. */
export interface RowChange {
  table: HistoryTable;
  id: number;
  before: Row | null;
  after: Row | null;
}

export type Prepare = (sql: string) => Database.Statement;

/**
 * Whether two snapshots hold the same values, `updated_at` aside: a write that only moves that
 * clock changed nothing the user could undo.
 */
export function sameRow(a: Row | null, b: Row | null): boolean {
  if (a === null || b === null) return a === b;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (key !== 'updated_at' && a[key] !== b[key]) return false;
  return true;
}

export function readRow(prepare: Prepare, table: HistoryTable, id: number): Row | null {
  const row = prepare(`SELECT * FROM ${table} WHERE id = ?`).get(id) as Row | undefined;
  if (!row) return null;
  const { id: _id, ...rest } = row;
  return rest;
}

/** Splits changes into the states redo must reach (in order) and undo must reach (reversed). */
export function toStates(changes: RowChange[]): { forward: RowState[]; backward: RowState[] } {
  return {
    forward: changes.map((c) => ({ table: c.table, id: c.id, row: c.after })),
    backward: changes.slice().reverse().map((c) => ({ table: c.table, id: c.id, row: c.before })),
  };
}

/** Brings each row to its recorded state: delete, update in place, or re-insert with its id. */
export function applyStates(prepare: Prepare, states: RowState[]): void {
  for (const { table, id, row } of states) {
    const columns = COLUMNS[table];
    if (row === null) {
      prepare(`DELETE FROM ${table} WHERE id = ?`).run(id);
      continue;
    }
    const values = columns.map((c) => row[c] ?? null);
    const exists = prepare(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) !== undefined;
    if (exists) {
      prepare(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...values, id);
    } else {
      prepare(`INSERT INTO ${table} (id, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`).run(id, ...values);
    }
  }
}

/** The ids a list of states touches, per table, for telling the UI what to refresh. */
export function touchedIds(states: RowState[], table: HistoryTable): number[] {
  return [...new Set(states.filter((s) => s.table === table).map((s) => s.id))];
}
