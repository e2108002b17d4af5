/**
 * The edit log: every change to labels and annotations is recorded as row snapshots, the state
 * before and after, in the same transaction as the change. Undo writes the `backward` states,
 * redo the `forward` ones; both are plain "make this row look like this" steps, so replaying
 * works the same after an image switch or a restart. Ids are AUTOINCREMENT, so a row re-created
 * by undo or redo never collides with a row made later. A step's states are rows of
 * `edit_states`, one per changed row, read back a page at a time: a step may hold 200,000 masks.
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

export const FORWARD = 0;
export const BACKWARD = 1;
export type Direction = typeof FORWARD | typeof BACKWARD;

/**
 * Records a step's states: redo reaches the `after` of each change in order, undo the `before`
 * of each in reverse order. `around` are another step's states that this one takes in: its
 * forward states go first and its backward ones last.
 */
export function writeStates(prepare: Prepare, entryId: number, changes: RowChange[], around?: { forward: RowState[]; backward: RowState[] }): void {
  const insert = prepare('INSERT INTO edit_states (entry_id, direction, tbl, row_id, row) VALUES (?, ?, ?, ?, ?)');
  const put = (direction: Direction, table: HistoryTable, id: number, row: Row | null) =>
    insert.run(entryId, direction, table, id, row === null ? null : JSON.stringify(row));
  for (const st of around?.forward ?? []) put(FORWARD, st.table, st.id, st.row);
  for (const c of changes) put(FORWARD, c.table, c.id, c.after);
  for (let i = changes.length - 1; i >= 0; i--) put(BACKWARD, changes[i]!.table, changes[i]!.id, changes[i]!.before);
  for (const st of around?.backward ?? []) put(BACKWARD, st.table, st.id, st.row);
}

/** A page of a step's states in one direction, after the state row `afterId` (0: from the start). */
export function readStates(prepare: Prepare, entryId: number, direction: Direction, afterId = 0, limit = -1): { states: RowState[]; lastId: number } {
  const rows = prepare('SELECT id, tbl, row_id, row FROM edit_states WHERE entry_id = ? AND direction = ? AND id > ? ORDER BY id LIMIT ?')
    .all(entryId, direction, afterId, limit) as { id: number; tbl: HistoryTable; row_id: number; row: string | null }[];
  return {
    states: rows.map((r) => ({ table: r.tbl, id: r.row_id, row: r.row === null ? null : JSON.parse(r.row) as Row })),
    lastId: rows.length ? rows[rows.length - 1]!.id : afterId,
  };
}

/** Inserts a row in this state (a new id unless `id` is given); returns its id. */
export function insertRow(prepare: Prepare, table: HistoryTable, row: Row, id?: number): number {
  const columns = COLUMNS[table];
  const values = columns.map((c) => row[c] ?? null);
  const info = id === undefined
    ? prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...values)
    : prepare(`INSERT INTO ${table} (id, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`).run(id, ...values);
  return Number(info.lastInsertRowid);
}

/** Brings each row to its recorded state: delete, update in place, or re-insert with its id. */
export function applyStates(prepare: Prepare, states: RowState[]): void {
  for (const { table, id, row } of states) {
    const columns = COLUMNS[table];
    if (row === null) {
      prepare(`DELETE FROM ${table} WHERE id = ?`).run(id);
      continue;
    }
    const exists = prepare(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) !== undefined;
    if (exists) {
      prepare(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...columns.map((c) => row[c] ?? null), id);
    } else {
      insertRow(prepare, table, row, id);
    }
  }
}
