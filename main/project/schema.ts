/**
 * The project file's schema as numbered migrations. `PRAGMA user_version` holds the number of
 * migrations applied; opening a project applies the missing ones, each in its own transaction
 * together with the version bump, so a crash mid-upgrade leaves the previous version intact.
 * A migration, once released, is never edited: changes go into a new entry at the end.
 */
import type Database from 'better-sqlite3';

/** Marks a SQLite file as ours (`PRAGMA application_id`): "PQ4S". */
export const APPLICATION_ID = 0x50513453;

type Migration = (db: Database.Database) => void;

export const migrations: Migration[] = [
  // 1: the initial schema.
  (db) => {
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.exec(`
      CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        -- relative to the project file's folder (with '/') when the image lies inside it, else absolute
        path TEXT NOT NULL UNIQUE,
        -- the path from the project folder at the time it was added ('..' allowed), so a project
        -- moved together with images outside its folder still finds them; null if not expressible
        path_from_project TEXT,
        sha256 TEXT,
        -- oriented size (after applying the EXIF orientation), null when the header was unreadable
        width INTEGER,
        height INTEGER,
        exif_orientation INTEGER NOT NULL DEFAULT 1 CHECK (exif_orientation BETWEEN 1 AND 8),
        status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'done', 'skipped')),
        -- why the image cannot be used (decode failure), shown as a badge; null when fine
        error TEXT,
        added_at INTEGER NOT NULL,
        position INTEGER NOT NULL UNIQUE
      );
      CREATE INDEX images_status_position ON images (status, position);
      CREATE INDEX images_sha256 ON images (sha256);

      CREATE TABLE labels (
        -- AUTOINCREMENT: ids are never reused, so history entries that re-create a row by id
        -- cannot collide with a row created later
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
        color TEXT NOT NULL CHECK (color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
        hotkey TEXT UNIQUE,
        sort_order INTEGER NOT NULL
      );

      CREATE TABLE annotations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        label_id INTEGER NOT NULL REFERENCES labels (id),
        -- the mask exactly, as a COCO compressed RLE string of an rle_h x rle_w mask
        rle_counts TEXT NOT NULL,
        rle_h INTEGER NOT NULL,
        rle_w INTEGER NOT NULL,
        bbox_x REAL NOT NULL,
        bbox_y REAL NOT NULL,
        bbox_w REAL NOT NULL,
        bbox_h REAL NOT NULL,
        area INTEGER NOT NULL,
        prompts TEXT,
        model_id TEXT,
        score REAL,
        hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX annotations_image ON annotations (image_id);
      CREATE INDEX annotations_label_image ON annotations (label_id, image_id);

      -- the project's single history stack; undone entries always form its tail
      CREATE TABLE edit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER REFERENCES images (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        forward TEXT NOT NULL,
        backward TEXT NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
        created_at INTEGER NOT NULL
      );
      CREATE INDEX edit_log_undone ON edit_log (undone, id);
      CREATE INDEX edit_log_image ON edit_log (image_id);

      CREATE TABLE embedding_cache (
        image_sha256 TEXT NOT NULL,
        model_id TEXT NOT NULL,
        dtype TEXT NOT NULL CHECK (dtype = 'fp16'),
        shape TEXT NOT NULL,
        blob BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        PRIMARY KEY (image_sha256, model_id)
      );
      CREATE INDEX embedding_cache_last_used ON embedding_cache (last_used);

      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `);
  },
  // 2: box-only annotations (a label and a box, no mask yet: detection imports waiting for SAM).
  // SQLite cannot drop NOT NULL from a column, so the table is rebuilt with the mask columns
  // nullable (all three null together, or none). Ids are copied and the AUTOINCREMENT counter
  // carried over, so ids of deleted rows that the edit log may re-create are never handed out.
  (db) => {
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'annotations'").get() as { seq: number } | undefined;
    db.exec(`
      CREATE TABLE annotations_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        label_id INTEGER NOT NULL REFERENCES labels (id),
        -- the mask exactly, as a COCO compressed RLE string of an rle_h x rle_w mask; all three
        -- null for a box-only annotation, whose bbox_* is then the box itself
        rle_counts TEXT,
        rle_h INTEGER,
        rle_w INTEGER,
        bbox_x REAL NOT NULL,
        bbox_y REAL NOT NULL,
        bbox_w REAL NOT NULL,
        bbox_h REAL NOT NULL,
        -- mask pixels; 0 for a box-only annotation
        area INTEGER NOT NULL,
        prompts TEXT,
        model_id TEXT,
        score REAL,
        hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK ((rle_counts IS NULL) = (rle_h IS NULL) AND (rle_h IS NULL) = (rle_w IS NULL))
      );
      INSERT INTO annotations_v2 SELECT * FROM annotations;
      DROP TABLE annotations;
      ALTER TABLE annotations_v2 RENAME TO annotations;
      CREATE INDEX annotations_image ON annotations (image_id);
      CREATE INDEX annotations_label_image ON annotations (label_id, image_id);
      -- finds the boxes still waiting for a mask without reading the masks
      CREATE INDEX annotations_box_only ON annotations (image_id) WHERE rle_counts IS NULL;
    `);
    if (seq) {
      // copying explicit ids set the counter to the largest id left, which may be below the old one
      const now = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'annotations'").get() as { seq: number } | undefined;
      if (now) db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'annotations'").run(Math.max(now.seq, seq.seq));
      else db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('annotations', ?)").run(seq.seq);
    }
  },
  // 3: the edit log's row states move into rows of their own, one per changed row, out of two
  // JSON arrays per step. A step of 100,000 imported masks was one string longer than a
  // JavaScript string can be (an import failed at its very end), and undo rewrote the whole step
  // to flip `undone`. Existing steps are copied over state by state, in their order.
  (db) => {
    db.exec(`
      CREATE TABLE edit_states (
        id INTEGER PRIMARY KEY,
        entry_id INTEGER NOT NULL REFERENCES edit_log (id) ON DELETE CASCADE,
        -- 0: the states redo reaches, in id order; 1: the states undo reaches
        direction INTEGER NOT NULL CHECK (direction IN (0, 1)),
        tbl TEXT NOT NULL CHECK (tbl IN ('annotations', 'labels')),
        row_id INTEGER NOT NULL,
        -- the row's columns but its id, as JSON; null: the row does not exist in this state
        row TEXT
      );
      CREATE INDEX edit_states_entry ON edit_states (entry_id, direction, id);
    `);
    const insert = db.prepare('INSERT INTO edit_states (entry_id, direction, tbl, row_id, row) VALUES (?, ?, ?, ?, ?)');
    const read = db.prepare('SELECT forward, backward FROM edit_log WHERE id = ?');
    // ids first: better-sqlite3 runs no other statement while an iteration is open
    for (const id of db.prepare('SELECT id FROM edit_log ORDER BY id').pluck().all() as number[]) {
      const entry = read.get(id) as { forward: string; backward: string };
      for (const [direction, json] of [[0, entry.forward], [1, entry.backward]] as const) {
        for (const s of JSON.parse(json) as { table: string; id: number; row: object | null }[]) {
          insert.run(id, direction, s.table, s.id, s.row === null ? null : JSON.stringify(s.row));
        }
      }
    }
    db.exec('ALTER TABLE edit_log DROP COLUMN forward; ALTER TABLE edit_log DROP COLUMN backward;');
  },
];

export const SCHEMA_VERSION = migrations.length;

/** Applies the migrations after `from`, one transaction each. */
export function migrate(db: Database.Database, from: number): void {
  for (let version = from + 1; version <= migrations.length; version++) {
    db.transaction(() => {
      migrations[version - 1]!(db);
      db.pragma(`user_version = ${version}`);
    })();
  }
}
