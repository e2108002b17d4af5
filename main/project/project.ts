/**
 * The project store: one SQLite file (better-sqlite3, WAL) holding images, labels, annotations,
 * the edit log, the embedding cache and settings. Every method is synchronous except the ones
 * that read image files, and every change is one short transaction; file reading and hashing
 * happen before the transaction opens.
 *
 * Durability: WAL with `synchronous = FULL`. NORMAL would already survive the app being killed
 * (committed WAL frames are in the OS), but a power cut could then drop the last edits the UI
 * had reported saved; FULL syncs the WAL at each commit, one fsync per user edit: 1-8 ms on our
 * VMs (NORMAL: 0.1 ms), invisible at the pace of human edits, and bulk work (adding a folder,
 * an import) is one transaction, so one sync.
 */
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase } from '../base/sqlite.ts';
import { checkFolderAbove, fileSha256 } from '../base/index.ts';
import { checkRleCounts, rleCountsFromString, rleMeasure } from '../masks/index.ts';
import { labelNameProblem } from '../formats/imported.ts';
import { describeDbError } from './errors.ts';
import { applyStates, BACKWARD, FORWARD, insertRow, readRow, readStates, sameRow, writeStates, type Direction, type HistoryTable, type Prepare, type RowChange } from './history.ts';
import { candidateFiles, storedPathOf } from './paths.ts';
import { findImageFiles, scanImages, type ScannedImage, throwIfAborted } from './scan.ts';
import { APPLICATION_ID, migrate, SCHEMA_VERSION } from './schema.ts';
import {
  type AddImagesOptions, type AddImagesResult, type Annotation, type AnnotationChange, type Bbox,
  type DatasetItem, type Embedding, type HistoryState, type HistoryStep, IMAGE_STATUSES, type ImagePage, type ImageRecord,
  type ImageStatus, type BoxMask, type Label, type LabelDeletePolicy, type NewAnnotation, type ProjectStats, type Rle,
} from './types.ts';

/** Default size of the embedding cache; a ViT image embedding in fp16 is 2 MiB (256x64x64). */
export const DEFAULT_EMBEDDING_BUDGET_BYTES = 1024 * 1024 * 1024;
const EMBEDDING_BUDGET_KEY = 'embeddingCache.budgetBytes';

/** Colours given to new labels in turn (distinct on dark and light canvases). */
const LABEL_PALETTE = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6', '#bcf60c', '#fabebe', '#008080', '#9a6324'];

type DbRow = Record<string, any>;

export interface LabelInput {
  name: string;
  color?: string;
  hotkey?: string | null;
}

/** One annotation of an import: the image by id or by path, the label by id or by name. */
export interface ImportAnnotation extends Omit<NewAnnotation, 'imageId' | 'labelId'> {
  imageId?: number;
  /** absolute path of an image in the project or among `images` */
  imagePath?: string;
  labelId?: number;
  labelName?: string;
}

export interface ImportInput {
  /** images to add first (already scanned); those whose path is in the project are reused */
  images?: ScannedImage[];
  /** labels to create when no label has the name */
  labels?: LabelInput[];
  annotations: ImportAnnotation[];
}

export interface ImportResult {
  addedImages: number[];
  addedLabels: number[];
  annotationIds: number[];
}

function checkColor(color: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) throw new Error(`label colour "${color}" is not of the form #rrggbb`);
  return color.toLowerCase();
}

function checkLabelName(name: string): string {
  const problem = labelNameProblem(typeof name === 'string' ? name : '');
  if (problem) throw new Error(problem);
  return name.trim();
}

function checkRle(rle: Rle, what: string): void {
  const size = rle?.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isInteger(n) && n >= 0) || typeof rle.counts !== 'string') {
    throw new Error(`${what}: mask is not a COCO RLE {size: [h, w], counts: string}`);
  }
  checkRleCounts(rleCountsFromString(rle.counts), rle.size, what);
}

/** A box-only annotation's box: four finite numbers, positive size, inside the image when its size is known. */
function checkBox(bbox: Bbox | undefined, image: DbRow, what: string): Bbox {
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`${what}: an annotation without a mask needs a box [x, y, w, h] of four numbers`);
  }
  const [x, y, w, h] = bbox;
  if (!(w > 0 && h > 0)) throw new Error(`${what}: box [${bbox.join(', ')}] has no area`);
  if (x < 0 || y < 0 || (image.width !== null && (x + w > image.width || y + h > image.height))) {
    throw new Error(`${what}: box [${bbox.join(', ')}] lies outside image ${image.path} (${image.width ?? '?'}x${image.height ?? '?'})`);
  }
  return [x, y, w, h];
}

function toImage(r: DbRow): ImageRecord {
  return {
    id: r.id, path: r.path, sha256: r.sha256, width: r.width, height: r.height, exifOrientation: r.exif_orientation,
    status: r.status, error: r.error, addedAt: r.added_at, position: r.position,
  };
}

function toLabel(r: DbRow): Label {
  return { id: r.id, name: r.name, color: r.color, hotkey: r.hotkey, sortOrder: r.sort_order };
}

function toAnnotation(r: DbRow): Annotation {
  return {
    id: r.id, imageId: r.image_id, labelId: r.label_id, rle: r.rle_counts === null ? null : { size: [r.rle_h, r.rle_w], counts: r.rle_counts },
    bbox: [r.bbox_x, r.bbox_y, r.bbox_w, r.bbox_h], area: r.area, prompts: r.prompts === null ? null : JSON.parse(r.prompts),
    modelId: r.model_id, score: r.score, hidden: r.hidden === 1, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

function sha256OfFile(file: string): string | null {
  try {
    return fileSha256(file);
  } catch {
    return null;
  }
}

function configure(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
}

/** Creates a new project file (its folder too); refuses to overwrite a file with content. */
export function createProject(dbPath: string): Project {
  const abs = resolve(dbPath);
  if (existsSync(abs) && statSync(abs).size > 0) throw new Error(`cannot create project ${abs}: the file already exists`);
  try {
    checkFolderAbove(abs);
  } catch (err) {
    throw new Error(`cannot create project ${(err as Error).message}`);
  }
  mkdirSync(dirname(abs), { recursive: true });
  let db: Database.Database;
  try {
    db = openDatabase(abs);
  } catch (err) {
    throw new Error(`cannot create project ${abs}: ${(err as Error).message}`);
  }
  try {
    configure(db);
    migrate(db, 0);
  } catch (err) {
    db.close();
    throw describeDbError(err, abs);
  }
  return new Project(db, abs);
}

/** True when this process may write `path` (a read-only medium answers EROFS even to root). */
function canWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A project on a medium that cannot be written (a DVD, a read-only share) cannot be opened in
 * place: SQLite needs to create the WAL index next to the file even to read. It is read from a
 * private copy instead, opened read-only; exports and every listing work, edits are refused.
 */
function readOnlySnapshot(abs: string): { db: Database.Database; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ptq4sam-readonly-'));
  try {
    const copy = join(dir, basename(abs));
    copyFileSync(abs, copy);
    if (existsSync(`${abs}-wal`)) copyFileSync(`${abs}-wal`, `${copy}-wal`);
    return { db: openDatabase(copy, { readonly: true, fileMustExist: true }), dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot open project ${abs}: ${(err as Error).message}`);
  }
}

/** Applies the missing migrations to a read-only snapshot's private copy and opens it read-only again. */
function upgradedCopy(snapshot: Database.Database, version: number): Database.Database {
  const copy = snapshot.name;
  snapshot.close();
  const writable = openDatabase(copy, { fileMustExist: true });
  try {
    configure(writable);
    migrate(writable, version);
  } finally {
    writable.close();
  }
  return openDatabase(copy, { readonly: true, fileMustExist: true });
}

/** The edit-log kind of a label made for the next annotation (Project.addLabel's forAnnotation). */
const IMPLIED_LABEL_KIND = 'label.add.implied';

/** The tables that hold the user's work; the embedding cache can be made again and is not checked. */
const CHECKED_TABLES = ['images', 'labels', 'annotations', 'edit_log', 'edit_states', 'settings'];

/** Row states undo and redo read and apply at a time. */
const REPLAY_PAGE = 2000;

/**
 * What SQLite's quick check finds wrong in the tables of the user's work (a page overwritten by a
 * failing disk or a sync tool), or null. Some damage opens and reads fine, and writing into a
 * damaged b-tree spreads it: checked at every open, at about the cost of reading those tables.
 */
function damageOf(db: Database.Database): string | null {
  const problems: string[] = [];
  const present = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
  for (const table of CHECKED_TABLES.filter((t) => present.has(t))) {
    const rows = db.prepare(`PRAGMA quick_check(${table})`).pluck().all() as string[];
    // a row reads "*** in database main ***\nPage 3: btreeInitPage() returns error code 11"
    problems.push(...rows.filter((r) => r !== 'ok').map((r) => r.replace(/\*\*\* in database \w+ \*\*\*/g, '').replace(/\s+/g, ' ').trim()));
  }
  if (problems.length === 0) return null;
  return `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`;
}

/**
 * Opens a project file, upgrading its schema if it is older. A project that cannot be written
 * opens read-only (`project.readOnly`), and so does a damaged one (`project.damage`): what it
 * holds can still be listed and exported, and no edit makes the damage worse.
 */
export function openProject(dbPath: string): Project {
  const abs = resolve(dbPath);
  if (!existsSync(abs)) throw new Error(`project file not found: ${abs}`);
  if (statSync(abs).isDirectory()) throw new Error(`not a project file: ${abs} is a folder`);
  const readOnly = !canWrite(abs) || !canWrite(dirname(abs));
  let db: Database.Database;
  let snapshotDir: string | null = null;
  let damage: string | null = null;
  try {
    if (readOnly) ({ db, dir: snapshotDir } = readOnlySnapshot(abs));
    else db = openDatabase(abs, { fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open project ${abs}: ${(err as Error).message}`);
  }
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (appId !== APPLICATION_ID) {
      throw new Error(`not a PTQ4SAM Studio project: ${abs} (a SQLite database of another program, or an empty one)`);
    }
    if (version > SCHEMA_VERSION) {
      throw new Error(`project ${abs} was written by a newer version of the app (schema ${version}; this version knows up to ${SCHEMA_VERSION})`);
    }
    // before anything is written: a migration must not write into a damaged file
    damage = damageOf(db);
    if (readOnly || damage) {
      if (version < SCHEMA_VERSION && damage) throw new Error(`project ${abs} is damaged (${damage}) and was made by an older version of the app (schema ${version}): open a backup`);
      if (!readOnly) {
        db.close();
        ({ db, dir: snapshotDir } = readOnlySnapshot(abs));
      }
      // a project that cannot be written is upgraded in its private copy; the file stays as it is
      if (version < SCHEMA_VERSION) db = upgradedCopy(db, version);
    } else {
      configure(db);
      migrate(db, version);
    }
  } catch (err) {
    db.close();
    if (snapshotDir) rmSync(snapshotDir, { recursive: true, force: true });
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB') throw new Error(`not a PTQ4SAM Studio project: ${abs} (the file is not a SQLite database)`);
    throw describeDbError(err, abs);
  }
  return new Project(db, abs, snapshotDir, damage);
}

export class Project {
  readonly dbPath: string;
  /** the folder holding the project file: relative image paths start here */
  readonly dir: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** images found elsewhere than their stored path (by content hash), for this session */
  private readonly relocated = new Map<number, string>();
  private lastTick = 0;

  /** the project file cannot be written: it was opened from a private read-only copy */
  readonly readOnly: boolean;
  /** the folder of that copy, removed on close */
  private readonly snapshotDir: string | null;
  /** what the quick check found wrong at open (the project is then read-only), or null */
  readonly damage: string | null;

  /** Use createProject / openProject. */
  constructor(db: Database.Database, dbPath: string, snapshotDir: string | null = null, damage: string | null = null) {
    this.db = db;
    this.dbPath = dbPath;
    this.dir = dirname(dbPath);
    this.readOnly = snapshotDir !== null;
    this.snapshotDir = snapshotDir;
    this.damage = damage;
  }

  close(): void {
    if (this.db.open) this.db.close();
    if (this.snapshotDir) rmSync(this.snapshotDir, { recursive: true, force: true });
  }

  private readonly prepare: Prepare = (sql) => {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  };

  private all(sql: string, ...params: unknown[]): DbRow[] {
    return this.run(() => this.prepare(sql).all(...params) as DbRow[]);
  }

  private get(sql: string, ...params: unknown[]): DbRow | undefined {
    return this.run(() => this.prepare(sql).get(...params) as DbRow | undefined);
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (this.damage && (err as { code?: unknown }).code === 'SQLITE_READONLY') {
        throw new Error(`project file is damaged: ${this.dbPath} (${this.damage}); it was opened read-only so that nothing makes it worse: export what it holds, or open a backup`, { cause: err });
      }
      throw describeDbError(err, this.dbPath);
    }
  }

  /** Runs `fn` as one transaction; a failure rolls everything back. */
  private write<T>(fn: () => T): T {
    return this.run(() => this.db.transaction(fn).immediate());
  }

  /**
   * A strictly increasing millisecond clock, so "newer" is never a tie within a session (the
   * embedding cache's least recently used); the rows of one batch share one time.
   */
  private tick(): number {
    this.lastTick = Math.max(Date.now(), this.lastTick + 1);
    return this.lastTick;
  }

  /**
   * One user edit: drops the redo tail, makes the change and records it in the edit log, all in
   * one transaction.
   */
  /**
   * `recordEmpty` false: a change of no rows records no step (and keeps the redo history). Batch
   * runs keep the default: their steps mark the images done, rows or not.
   */
  private edit<T>(kind: string, imageId: number | null, change: () => { result: T; changes: RowChange[] }, recordEmpty = true): T {
    return this.write(() => {
      const { result, changes } = change();
      if (changes.length === 0 && !recordEmpty) return result;
      this.prepare('DELETE FROM edit_log WHERE undone = 1').run();
      // a label made for this very annotation (the first one of a project without labels) goes
      // into its step: one user intention, one undo (the annotation is removed before its label)
      const last = this.prepare('SELECT id, kind FROM edit_log ORDER BY id DESC LIMIT 1').get() as DbRow | undefined;
      let around;
      if (last?.kind === IMPLIED_LABEL_KIND) {
        const forward = readStates(this.prepare, last.id, FORWARD).states;
        const labelIds = new Set(forward.map((st) => st.id));
        if (changes.some((c) => c.table === 'annotations' && c.after && labelIds.has(c.after.label_id as number))) {
          around = { forward, backward: readStates(this.prepare, last.id, BACKWARD).states };
          this.prepare('DELETE FROM edit_log WHERE id = ?').run(last.id);
        }
      }
      const entry = this.prepare('INSERT INTO edit_log (image_id, kind, created_at) VALUES (?, ?, ?)').run(imageId, kind, this.tick());
      writeStates(this.prepare, Number(entry.lastInsertRowid), changes, around);
      return result;
    });
  }

  private snapshot(table: HistoryTable, id: number) {
    return readRow(this.prepare, table, id);
  }

  // ---- images ----

  /**
   * Adds image files and folders (recursively). Files are hashed and their headers read before
   * one transaction inserts them all. Paths already in the project are skipped and reported;
   * images whose header cannot be read are added with an error badge rather than dropped.
   * Aborting via `signal` before the transaction leaves the project unchanged.
   */
  async addImages(inputs: string[], options: AddImagesOptions = {}): Promise<AddImagesResult> {
    const { onProgress, signal } = options;
    const { files, unsupported } = await findImageFiles(inputs, signal, (found, dir) => onProgress?.({ phase: 'scan', done: found, total: 0, path: dir }));
    const known = new Set(this.all('SELECT path FROM images').map((r) => r.path as string));
    const duplicates: string[] = [];
    const fresh: string[] = [];
    for (const file of files) {
      const { path } = storedPathOf(this.dir, file);
      if (known.has(path)) duplicates.push(file);
      else {
        known.add(path);
        fresh.push(file);
      }
    }
    const scanned = await scanImages(fresh, (done, path) => onProgress?.({ phase: 'read', done, total: fresh.length, path }), signal);
    throwIfAborted(signal);
    const added = this.write(() => this.insertImages(scanned, duplicates));
    return {
      added,
      duplicates,
      unsupported,
      unreadable: scanned.filter((s) => s.error !== null).map((s) => ({ path: s.file, error: s.error! })),
    };
  }

  /** Inside a transaction: inserts scanned images at the end; a path already present goes to `duplicates`. */
  private insertImages(scanned: ScannedImage[], duplicates: string[]): number[] {
    let position = (this.prepare('SELECT coalesce(max(position), 0) AS p FROM images').get() as DbRow).p as number;
    const insert = this.prepare(`INSERT INTO images (path, path_from_project, sha256, width, height, exif_orientation, error, added_at, position)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO NOTHING`);
    const now = this.tick();
    const ids: number[] = [];
    for (const s of scanned) {
      const { path, pathFromProject } = storedPathOf(this.dir, s.file);
      const info = insert.run(path, pathFromProject, s.sha256, s.width, s.height, s.exifOrientation, s.error, now, ++position);
      if (info.changes === 1) ids.push(Number(info.lastInsertRowid));
      else duplicates.push(s.file);
    }
    return ids;
  }

  /**
   * A page of images in their added order, each with its number of annotations. `labelId` keeps
   * the images with at least one annotation of that label.
   */
  listImages(options: { offset?: number; limit?: number; status?: ImageStatus; labelId?: number } = {}): ImagePage {
    const { offset = 0, limit = 100, status, labelId } = options;
    const where: string[] = [];
    const params: unknown[] = [];
    if (status !== undefined) {
      this.checkStatus(status);
      where.push('i.status = ?');
      params.push(status);
    }
    if (labelId !== undefined) {
      where.push('EXISTS (SELECT 1 FROM annotations f WHERE f.label_id = ? AND f.image_id = i.id)');
      params.push(labelId);
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    // counting by label alone reads only the label's index entries: 3x faster than the EXISTS
    // probe per image at 10k images / 100k annotations (bench/project.ts)
    const total = (status === undefined && labelId !== undefined
      ? this.get('SELECT count(DISTINCT image_id) AS n FROM annotations WHERE label_id = ?', labelId)
      : this.get(`SELECT count(*) AS n FROM images i ${filter}`, ...params))!.n as number;
    const rows = this.all(
      `SELECT i.*, (SELECT count(*) FROM annotations a WHERE a.image_id = i.id) AS annotation_count
       FROM images i ${filter} ORDER BY i.position LIMIT ? OFFSET ?`,
      ...params, limit, offset,
    );
    return { total, items: rows.map((r) => ({ ...toImage(r), annotationCount: r.annotation_count as number })) };
  }

  getImage(id: number): ImageRecord {
    const row = this.get('SELECT * FROM images WHERE id = ?', id);
    if (!row) throw new Error(`no image with id ${id} in ${this.dbPath}`);
    return toImage(row);
  }

  /**
   * The image stored for a path: absolute, or relative to the project folder, or relative to
   * the current folder; null if the project has no such image.
   */
  findImageByPath(path: string): ImageRecord | null {
    const forms = new Set([storedPathOf(this.dir, resolve(this.dir, path)).path, storedPathOf(this.dir, resolve(path)).path]);
    for (const form of forms) {
      const row = this.get('SELECT * FROM images WHERE path = ?', form);
      if (row) return toImage(row);
    }
    return null;
  }

  private checkStatus(status: ImageStatus): void {
    if (!IMAGE_STATUSES.includes(status)) throw new Error(`image status "${status}" is not one of ${IMAGE_STATUSES.join(', ')}`);
  }

  setImageStatus(id: number, status: ImageStatus): void {
    this.checkStatus(status);
    this.getImage(id);
    this.write(() => this.prepare('UPDATE images SET status = ? WHERE id = ?').run(status, id));
  }

  /** Records (or clears, with null) why an image cannot be used, e.g. a decode failure found on opening it. */
  setImageError(id: number, error: string | null): void {
    this.getImage(id);
    this.write(() => this.prepare('UPDATE images SET error = ? WHERE id = ?').run(error, id));
  }

  /**
   * The absolute path of the image's file, found again after the project folder moved (see
   * paths.ts for the search order), or null if it cannot be found.
   */
  resolveImagePath(image: ImageRecord | number): string | null {
    const record = typeof image === 'number' ? this.getImage(image) : image;
    const known = this.relocated.get(record.id);
    if (known && existsSync(known)) return known;
    const fromProject = this.get('SELECT path_from_project AS p FROM images WHERE id = ?', record.id)?.p ?? null;
    for (const candidate of candidateFiles(this.dir, { path: record.path, pathFromProject: fromProject })) {
      if (!existsSync(candidate.file)) continue;
      if (candidate.needsHashCheck && (record.sha256 === null || sha256OfFile(candidate.file) !== record.sha256)) continue;
      this.relocated.set(record.id, candidate.file);
      return candidate.file;
    }
    return null;
  }

  // ---- labels ----

  listLabels(): Label[] {
    return this.all('SELECT * FROM labels ORDER BY sort_order, id').map(toLabel);
  }

  getLabel(id: number): Label {
    const row = this.get('SELECT * FROM labels WHERE id = ?', id);
    if (!row) throw new Error(`no label with id ${id} in ${this.dbPath}`);
    return toLabel(row);
  }

  findLabelByName(name: string): Label | null {
    const row = this.get('SELECT * FROM labels WHERE name = ?', typeof name === 'string' ? name.trim() : name);
    return row ? toLabel(row) : null;
  }

  private checkLabelFree(name: string, hotkey: string | null | undefined, exceptId: number | null): void {
    const byName = this.findLabelByName(name);
    if (byName && byName.id !== exceptId) throw new Error(`a label named "${name}" already exists`);
    if (hotkey) {
      const byKey = this.get('SELECT name FROM labels WHERE hotkey = ? AND id IS NOT ?', hotkey, exceptId);
      if (byKey) throw new Error(`hotkey "${hotkey}" is already used by label "${byKey.name}"`);
    }
  }

  /** Inside a transaction: inserts a label, returning its change. */
  private insertLabel(input: LabelInput): RowChange {
    const name = checkLabelName(input.name);
    this.checkLabelFree(name, input.hotkey, null);
    const count = (this.prepare('SELECT count(*) AS n, coalesce(max(sort_order), -1) AS last FROM labels').get() as DbRow);
    const color = input.color === undefined ? LABEL_PALETTE[(count.n as number) % LABEL_PALETTE.length]! : checkColor(input.color);
    const info = this.prepare('INSERT INTO labels (name, color, hotkey, sort_order) VALUES (?, ?, ?, ?)')
      .run(name, color, input.hotkey ?? null, (count.last as number) + 1);
    const id = Number(info.lastInsertRowid);
    return { table: 'labels', id, before: null, after: this.snapshot('labels', id) };
  }

  /**
   * `forAnnotation`: the label is made for the annotation about to be stored (a project without
   * labels gets its first one on the first accept); that annotation's step then takes the label
   * with it, so one undo removes both.
   */
  addLabel(input: LabelInput, opts: { forAnnotation?: boolean } = {}): Label {
    const id = this.edit(opts.forAnnotation ? IMPLIED_LABEL_KIND : 'label.add', null, () => {
      const change = this.insertLabel(input);
      return { result: change.id, changes: [change] };
    });
    return this.getLabel(id);
  }

  /** Renames, recolours or re-keys a label (the fields given). */
  updateLabel(id: number, change: { name?: string; color?: string; hotkey?: string | null }): Label {
    const current = this.getLabel(id);
    const name = change.name === undefined ? current.name : checkLabelName(change.name);
    const color = change.color === undefined ? current.color : checkColor(change.color);
    const hotkey = change.hotkey === undefined ? current.hotkey : change.hotkey;
    this.checkLabelFree(name, hotkey, id);
    this.edit('label.update', null, () => {
      const before = this.snapshot('labels', id);
      this.prepare('UPDATE labels SET name = ?, color = ?, hotkey = ? WHERE id = ?').run(name, color, hotkey, id);
      const after = this.snapshot('labels', id);
      // setting the values a label already has is no edit: no undo step, the redo history kept
      return { result: undefined, changes: sameRow(before, after) ? [] : [{ table: 'labels', id, before, after }] };
    }, false);
    return this.getLabel(id);
  }

  /** Sets the order of the labels; `ids` must list every label once. */
  reorderLabels(ids: number[]): Label[] {
    const current = this.listLabels().map((l) => l.id);
    const given = new Set(ids);
    if (given.size !== ids.length || ids.length !== current.length || !current.every((id) => given.has(id))) {
      throw new Error(`label order must list each of the ${current.length} labels once (got ${JSON.stringify(ids)})`);
    }
    this.edit('label.reorder', null, () => {
      const changes: RowChange[] = [];
      ids.forEach((id, order) => {
        const before = this.snapshot('labels', id);
        this.prepare('UPDATE labels SET sort_order = ? WHERE id = ?').run(order, id);
        const after = this.snapshot('labels', id);
        if (!sameRow(before, after)) changes.push({ table: 'labels', id, before, after });
      });
      return { result: undefined, changes };
    }, false);
    return this.listLabels();
  }

  /**
   * Deletes a label. Its annotations decide how: 'refuse' (the default) fails if there are any,
   * 'delete-annotations' deletes them with it, 'reassign' moves them to another label. One undo
   * step restores everything.
   */
  deleteLabel(id: number, policy: LabelDeletePolicy = { mode: 'refuse' }): { deletedAnnotations: number; reassignedAnnotations: number } {
    const label = this.getLabel(id);
    const used = this.get('SELECT count(*) AS n FROM annotations WHERE label_id = ?', id)!.n as number;
    if (policy.mode === 'refuse' && used > 0) {
      throw new Error(`label "${label.name}" is used by ${used} annotation(s): delete them or move them to another label first`);
    }
    if (policy.mode === 'reassign') {
      if (policy.toLabelId === id) throw new Error(`label "${label.name}" cannot be reassigned to itself`);
      this.getLabel(policy.toLabelId);
    }
    return this.edit('label.delete', null, () => {
      const changes: RowChange[] = [];
      const annotationIds = (this.prepare('SELECT id FROM annotations WHERE label_id = ? ORDER BY id').all(id) as DbRow[]).map((r) => r.id as number);
      for (const annotationId of annotationIds) {
        const before = this.snapshot('annotations', annotationId);
        if (policy.mode === 'reassign') {
          this.prepare('UPDATE annotations SET label_id = ?, updated_at = ? WHERE id = ?').run(policy.toLabelId, this.tick(), annotationId);
        } else {
          this.prepare('DELETE FROM annotations WHERE id = ?').run(annotationId);
        }
        changes.push({ table: 'annotations', id: annotationId, before, after: this.snapshot('annotations', annotationId) });
      }
      changes.push({ table: 'labels', id, before: this.snapshot('labels', id), after: null });
      this.prepare('DELETE FROM labels WHERE id = ?').run(id);
      const moved = policy.mode === 'reassign' ? annotationIds.length : 0;
      return { result: { deletedAnnotations: annotationIds.length - moved, reassignedAnnotations: moved }, changes };
    });
  }

  // ---- annotations ----

  /**
   * Checks an annotation's image, label and mask, and fills in bbox and area from the mask. A
   * box-only annotation (no mask) needs a box of positive size inside the image; its area is 0.
   */
  private prepareAnnotation(a: NewAnnotation, what: string): { bbox: Bbox; area: number } {
    const image = this.get('SELECT path, width, height FROM images WHERE id = ?', a.imageId);
    if (!image) throw new Error(`${what}: no image with id ${a.imageId}`);
    if (!this.get('SELECT 1 FROM labels WHERE id = ?', a.labelId)) throw new Error(`${what}: no label with id ${a.labelId}`);
    if (a.rle === null) return { bbox: checkBox(a.bbox, image, what), area: 0 };
    checkRle(a.rle, what);
    const [h, w] = a.rle.size;
    if (image.width !== null && (h !== image.height || w !== image.width)) {
      throw new Error(`${what}: mask is ${w}x${h} but image ${image.path} is ${image.width}x${image.height}`);
    }
    if (a.bbox && a.area !== undefined) return { bbox: a.bbox, area: a.area };
    // one pass over the runs for both (an import of 200,000 masks decoded each one more time for each)
    const measured = rleMeasure(a.rle);
    return { bbox: a.bbox ?? measured.bbox, area: a.area ?? measured.area };
  }

  /** Inside a transaction: inserts a checked annotation, returning its change. */
  private insertAnnotation(a: NewAnnotation, bbox: Bbox, area: number, now = this.tick()): RowChange {
    // the row written is the change's after-state as it is: not read back (a 100,000-mask import spent a second on that)
    const after = {
      image_id: a.imageId, label_id: a.labelId, rle_counts: a.rle?.counts ?? null, rle_h: a.rle?.size[0] ?? null, rle_w: a.rle?.size[1] ?? null,
      bbox_x: bbox[0], bbox_y: bbox[1], bbox_w: bbox[2], bbox_h: bbox[3], area,
      prompts: a.prompts == null ? null : JSON.stringify(a.prompts), model_id: a.modelId ?? null, score: a.score ?? null, hidden: 0, created_at: now, updated_at: now,
    };
    return { table: 'annotations', id: insertRow(this.prepare, 'annotations', after), before: null, after };
  }

  /**
   * The images holding box-only annotations, in project order, as far as `imageIds` and
   * `labelId` (when given) keep them: what automatic labelling still has to do.
   */
  imagesWithBoxes(options: { imageIds?: number[]; labelId?: number } = {}): number[] {
    const { imageIds, labelId } = options;
    const rows = this.all(`SELECT DISTINCT i.id, i.position FROM annotations a JOIN images i ON i.id = a.image_id
      WHERE a.rle_counts IS NULL ${labelId === undefined ? '' : 'AND a.label_id = ?'} ORDER BY i.position`, ...(labelId === undefined ? [] : [labelId]));
    const wanted = imageIds === undefined ? null : new Set(imageIds);
    return rows.map((r) => r.id as number).filter((id) => wanted === null || wanted.has(id));
  }

  /** An image's box-only annotations (of one label when given), oldest first. */
  listBoxAnnotations(imageId: number, labelId?: number): Annotation[] {
    return this.all(`SELECT * FROM annotations WHERE image_id = ? AND rle_counts IS NULL ${labelId === undefined ? '' : 'AND label_id = ?'} ORDER BY id`,
      imageId, ...(labelId === undefined ? [] : [labelId])).map(toAnnotation);
  }

  /**
   * Gives box-only annotations of one image their masks, in place (same id and label), the box
   * kept as the prompt: one transaction and one undo step for the image. Every annotation must
   * still be a box on that image, so a second run over the same boxes fails instead of writing twice.
   */
  replaceBoxesWithMasks(imageId: number, masks: BoxMask[]): void {
    if (masks.length === 0) return;
    const checked = masks.map((m) => {
      const what = `annotation ${m.annotationId}`;
      const current = this.getAnnotation(m.annotationId);
      if (current.imageId !== imageId) throw new Error(`${what} is on image ${current.imageId}, not ${imageId}`);
      const { bbox, area } = this.prepareAnnotation({ ...current, rle: m.rle, bbox: undefined, area: undefined }, what);
      const [x, y, w, h] = current.bbox;
      return { m, bbox, area, prompts: JSON.stringify({ points: [], box: [x, y, x + w, y + h] }) };
    });
    this.edit('autolabel.boxes', imageId, () => {
      const update = this.prepare(`UPDATE annotations SET rle_counts = ?, rle_h = ?, rle_w = ?, bbox_x = ?, bbox_y = ?, bbox_w = ?, bbox_h = ?,
        area = ?, prompts = ?, model_id = ?, score = ?, updated_at = ? WHERE id = ? AND image_id = ? AND rle_counts IS NULL`);
      const changes: RowChange[] = checked.map(({ m, bbox, area, prompts }) => {
        const before = this.snapshot('annotations', m.annotationId);
        const info = update.run(m.rle.counts, m.rle.size[0], m.rle.size[1], bbox[0], bbox[1], bbox[2], bbox[3], area, prompts, m.modelId, m.score,
          this.tick(), m.annotationId, imageId);
        if (info.changes !== 1) throw new Error(`annotation ${m.annotationId} already has a mask; nothing was changed on image ${imageId}`);
        return { table: 'annotations', id: m.annotationId, before, after: this.snapshot('annotations', m.annotationId) };
      });
      return { result: undefined, changes };
    });
  }

  /** Stores several masks of one image as annotations in one transaction and one undo step (`kind` names the edit). */
  addAnnotations(imageId: number, list: Omit<NewAnnotation, 'imageId'>[], kind = 'annotation.add'): number[] {
    const prepared = list.map((a, i) => ({ a: { ...a, imageId }, ...this.prepareAnnotation({ ...a, imageId }, `new annotation ${i + 1}`) }));
    return this.edit(kind, imageId, () => {
      // one time for the batch: a tick a row ran the clock ahead by a millisecond an annotation
      const now = this.tick();
      const changes = prepared.map(({ a, bbox, area }) => this.insertAnnotation(a, bbox, area, now));
      return { result: changes.map((c) => c.id), changes };
    });
  }

  /** Stores a mask as an annotation (and its edit-log entry) in one transaction; returns its id. */
  addAnnotation(a: NewAnnotation): number {
    const { bbox, area } = this.prepareAnnotation(a, 'new annotation');
    return this.edit('annotation.add', a.imageId, () => {
      const change = this.insertAnnotation(a, bbox, area);
      return { result: change.id, changes: [change] };
    });
  }

  getAnnotation(id: number): Annotation {
    const row = this.get('SELECT * FROM annotations WHERE id = ?', id);
    if (!row) throw new Error(`no annotation with id ${id} in ${this.dbPath}`);
    return toAnnotation(row);
  }

  /** The annotations of one image, oldest first. */
  listAnnotations(imageId: number): Annotation[] {
    return this.all('SELECT * FROM annotations WHERE image_id = ? ORDER BY id', imageId).map(toAnnotation);
  }

  /** Edits an annotation: its mask (bbox and area follow), label, visibility, prompts, model or score. */
  updateAnnotation(id: number, change: AnnotationChange): Annotation {
    const current = this.getAnnotation(id);
    const next = { ...current, ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) } as Annotation;
    const { bbox, area } = change.rle
      ? this.prepareAnnotation({ ...next, bbox: undefined, area: undefined }, `annotation ${id}`)
      : this.prepareAnnotation(next, `annotation ${id}`);
    const kind = change.rle ? 'annotation.mask' : change.labelId !== undefined ? 'annotation.label' : change.hidden !== undefined ? 'annotation.visibility' : 'annotation.update';
    this.edit(kind, current.imageId, () => {
      const before = this.snapshot('annotations', id)!;
      // written with the old updated_at first: a change that leaves every value as it was (the
      // same visibility, no fields, a stroke that moved no pixel) is no edit, so it records no
      // undo step and keeps the redo history
      this.prepare(`UPDATE annotations SET label_id = ?, rle_counts = ?, rle_h = ?, rle_w = ?, bbox_x = ?, bbox_y = ?, bbox_w = ?, bbox_h = ?,
        area = ?, prompts = ?, model_id = ?, score = ?, hidden = ?, updated_at = ? WHERE id = ?`).run(
        next.labelId, next.rle?.counts ?? null, next.rle?.size[0] ?? null, next.rle?.size[1] ?? null, bbox[0], bbox[1], bbox[2], bbox[3], area,
        next.prompts == null ? null : JSON.stringify(next.prompts), next.modelId, next.score,
        next.hidden ? 1 : 0, before.updated_at, id,
      );
      if (sameRow(before, this.snapshot('annotations', id))) return { result: undefined, changes: [] };
      this.prepare('UPDATE annotations SET updated_at = ? WHERE id = ?').run(this.tick(), id);
      return { result: undefined, changes: [{ table: 'annotations', id, before, after: this.snapshot('annotations', id) }] };
    }, false);
    return this.getAnnotation(id);
  }

  deleteAnnotation(id: number): void {
    const current = this.getAnnotation(id);
    this.edit('annotation.delete', current.imageId, () => {
      const before = this.snapshot('annotations', id);
      this.prepare('DELETE FROM annotations WHERE id = ?').run(id);
      return { result: undefined, changes: [{ table: 'annotations', id, before, after: null }] };
    });
  }

  /**
   * Adds images, labels and annotations from an import in one transaction and one undo step:
   * any bad item fails the whole import and leaves the project as it was.
   */
  importAnnotations(input: ImportInput): ImportResult {
    return this.edit('import', null, () => {
      const addedImages = this.insertImages(input.images ?? [], []);
      const changes: RowChange[] = [];
      const labelIds = new Map<string, number>();
      for (const label of input.labels ?? []) {
        const existing = this.findLabelByName(label.name);
        if (existing) labelIds.set(existing.name, existing.id);
        else {
          const change = this.insertLabel(label);
          changes.push(change);
          labelIds.set((change.after as DbRow).name, change.id);
        }
      }
      // one time for the import: a tick a row ran the clock minutes ahead for 200,000 annotations
      const now = this.tick();
      const imageIds = new Map<string, number | undefined>();
      const imageIdOf = (path: string) => {
        if (!imageIds.has(path)) imageIds.set(path, this.findImageByPath(path)?.id);
        return imageIds.get(path);
      };
      const annotationIds = input.annotations.map((item, i) => {
        const what = `imported annotation ${i + 1}`;
        const imageId = item.imageId ?? (item.imagePath !== undefined ? imageIdOf(item.imagePath) : undefined);
        if (imageId === undefined) throw new Error(`${what}: image ${item.imagePath ?? '(none given)'} is not in the project`);
        const labelId = item.labelId ?? (item.labelName !== undefined ? (labelIds.get(item.labelName) ?? this.findLabelByName(item.labelName)?.id) : undefined);
        if (labelId === undefined) throw new Error(`${what}: label ${item.labelName ?? '(none given)'} does not exist`);
        const a: NewAnnotation = { ...item, imageId, labelId };
        const { bbox, area } = this.prepareAnnotation(a, what);
        const change = this.insertAnnotation(a, bbox, area, now);
        changes.push(change);
        return change.id;
      });
      return { result: { addedImages, addedLabels: changes.filter((c) => c.table === 'labels').map((c) => c.id), annotationIds }, changes };
    }, false);
  }

  // ---- history ----

  /** Reverts the latest edit that is not undone, on whatever image it was; null if none. */
  undo(): HistoryStep | null {
    return this.replay('SELECT * FROM edit_log WHERE undone = 0 ORDER BY id DESC LIMIT 1', BACKWARD, 1);
  }

  /** Reapplies the earliest undone edit; null if none (a new edit after undos drops them). */
  redo(): HistoryStep | null {
    return this.replay('SELECT * FROM edit_log WHERE undone = 1 ORDER BY id ASC LIMIT 1', FORWARD, 0);
  }

  private replay(pick: string, direction: Direction, undone: 0 | 1): HistoryStep | null {
    return this.write(() => {
      const entry = this.prepare(pick).get() as DbRow | undefined;
      if (!entry) return null;
      const touched = { annotations: new Set<number>(), labels: new Set<number>() };
      // a page at a time: an import's step may hold 200,000 masks
      for (let afterId = 0; ;) {
        const page = readStates(this.prepare, entry.id, direction, afterId, REPLAY_PAGE);
        if (page.states.length === 0) break;
        try {
          applyStates(this.prepare, page.states);
        } catch (err) {
          throw new Error(`cannot ${undone ? 'undo' : 'redo'} "${entry.kind}" in ${this.dbPath}: ${(err as Error).message}`, { cause: err });
        }
        for (const st of page.states) touched[st.table].add(st.id);
        afterId = page.lastId;
      }
      this.prepare('UPDATE edit_log SET undone = ? WHERE id = ?').run(undone, entry.id);
      return {
        entryId: entry.id, kind: entry.kind, imageId: entry.image_id,
        annotationIds: [...touched.annotations], labelIds: [...touched.labels],
      };
    });
  }

  /** The images on which an edit of `kind` is in effect (made and not undone): how a batch run knows what it already did. */
  imagesEditedBy(kind: string): number[] {
    return this.all('SELECT DISTINCT image_id FROM edit_log WHERE kind = ? AND undone = 0 AND image_id IS NOT NULL ORDER BY image_id', kind)
      .map((r) => r.image_id as number);
  }

  historyState(): HistoryState {
    const undo = this.get('SELECT kind, image_id FROM edit_log WHERE undone = 0 ORDER BY id DESC LIMIT 1');
    const redo = this.get('SELECT kind, image_id FROM edit_log WHERE undone = 1 ORDER BY id ASC LIMIT 1');
    return {
      undo: undo ? { kind: undo.kind, imageId: undo.image_id } : null,
      redo: redo ? { kind: redo.kind, imageId: redo.image_id } : null,
    };
  }

  // ---- dataset ----

  /**
   * Streams every image in order with its annotations, for exports. It reads from its own
   * read-only connection inside one read transaction, so it sees one consistent snapshot even
   * while edits continue, and holds only one batch of images in memory.
   */
  *iterateDataset(options: { batchSize?: number } = {}): Generator<DatasetItem> {
    const batchSize = options.batchSize ?? 256;
    const reader = openDatabase(this.db.name, { readonly: true, fileMustExist: true });
    try {
      reader.exec('BEGIN');
      const images = reader.prepare('SELECT * FROM images WHERE position > ? ORDER BY position LIMIT ?');
      const annotations = reader.prepare(`SELECT a.* FROM annotations a JOIN images i ON i.id = a.image_id
        WHERE i.position > ? AND i.position <= ? ORDER BY i.position, a.id`);
      let after = 0;
      for (;;) {
        const batch = (images.all(after, batchSize) as DbRow[]).map(toImage);
        if (batch.length === 0) break;
        const last = batch[batch.length - 1]!.position;
        const byImage = new Map<number, Annotation[]>();
        for (const row of annotations.iterate(after, last) as IterableIterator<DbRow>) {
          const list = byImage.get(row.image_id) ?? [];
          list.push(toAnnotation(row));
          byImage.set(row.image_id, list);
        }
        after = last;
        for (const image of batch) yield { image, file: this.resolveImagePath(image), annotations: byImage.get(image.id) ?? [] };
      }
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
  }

  // ---- embedding cache ----

  embeddingBudgetBytes(): number {
    return this.getSetting<number>(EMBEDDING_BUDGET_KEY) ?? DEFAULT_EMBEDDING_BUDGET_BYTES;
  }

  setEmbeddingBudgetBytes(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`embedding cache budget ${bytes} is not a whole number of bytes`);
    this.write(() => {
      this.setSettingIn(EMBEDDING_BUDGET_KEY, bytes);
      this.evictIn(bytes);
    });
  }

  /** A cached embedding (marking it used), or null. */
  getEmbedding(imageSha256: string, modelId: string): Embedding | null {
    const row = this.get('SELECT shape, blob FROM embedding_cache WHERE image_sha256 = ? AND model_id = ?', imageSha256, modelId);
    if (!row) return null;
    this.write(() => this.prepare('UPDATE embedding_cache SET last_used = ? WHERE image_sha256 = ? AND model_id = ?').run(this.tick(), imageSha256, modelId));
    const blob = row.blob as Buffer;
    const data = new Uint16Array(blob.byteLength / 2);
    new Uint8Array(data.buffer).set(blob);
    return { dtype: 'fp16', shape: JSON.parse(row.shape), data };
  }

  /** Stores an fp16 embedding, then evicts the least recently used ones beyond the budget. */
  putEmbedding(imageSha256: string, modelId: string, embedding: { shape: number[]; data: Uint16Array }): void {
    const elements = embedding.shape.reduce((a, b) => a * b, 1);
    if (elements !== embedding.data.length) {
      throw new Error(`embedding for ${imageSha256} has shape [${embedding.shape}] but ${embedding.data.length} values`);
    }
    const blob = Buffer.from(embedding.data.buffer, embedding.data.byteOffset, embedding.data.byteLength);
    this.write(() => {
      this.prepare(`INSERT OR REPLACE INTO embedding_cache (image_sha256, model_id, dtype, shape, blob, bytes, last_used)
        VALUES (?, ?, 'fp16', ?, ?, ?, ?)`).run(imageSha256, modelId, JSON.stringify(embedding.shape), blob, blob.byteLength, this.tick());
      this.evictIn(this.embeddingBudgetBytes());
    });
  }

  /** Evicts least recently used embeddings until the cache fits `budgetBytes` (default: the setting). */
  evictEmbeddings(budgetBytes = this.embeddingBudgetBytes()): { evicted: number; bytes: number } {
    return this.write(() => this.evictIn(budgetBytes));
  }

  private evictIn(budgetBytes: number): { evicted: number; bytes: number } {
    let total = (this.prepare('SELECT coalesce(sum(bytes), 0) AS n FROM embedding_cache').get() as DbRow).n as number;
    let evicted = 0;
    let freed = 0;
    if (total <= budgetBytes) return { evicted, bytes: freed };
    const oldest = this.prepare('SELECT rowid, bytes FROM embedding_cache ORDER BY last_used, rowid').all() as DbRow[];
    const remove = this.prepare('DELETE FROM embedding_cache WHERE rowid = ?');
    for (const row of oldest) {
      if (total <= budgetBytes) break;
      remove.run(row.rowid);
      total -= row.bytes;
      freed += row.bytes;
      evicted++;
    }
    return { evicted, bytes: freed };
  }

  // ---- settings ----

  getSetting<T>(key: string): T | undefined {
    const row = this.get('SELECT value FROM settings WHERE key = ?', key);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  /** Stores a JSON value; undefined deletes the setting. */
  setSetting(key: string, value: unknown): void {
    this.write(() => this.setSettingIn(key, value));
  }

  private setSettingIn(key: string, value: unknown): void {
    if (value === undefined) this.prepare('DELETE FROM settings WHERE key = ?').run(key);
    else this.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  // ---- health ----

  stats(): ProjectStats {
    const count = (sql: string) => this.get(sql)!.n as number;
    const imagesByStatus = Object.fromEntries(IMAGE_STATUSES.map((s) => [s, 0])) as Record<ImageStatus, number>;
    for (const row of this.all('SELECT status, count(*) AS n FROM images GROUP BY status')) imagesByStatus[row.status as ImageStatus] = row.n;
    const cache = this.get('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM embedding_cache')!;
    return {
      images: count('SELECT count(*) AS n FROM images'),
      annotations: count('SELECT count(*) AS n FROM annotations'),
      boxOnlyAnnotations: count('SELECT count(*) AS n FROM annotations WHERE rle_counts IS NULL'),
      labels: count('SELECT count(*) AS n FROM labels'),
      imagesByStatus,
      imagesWithErrors: count('SELECT count(*) AS n FROM images WHERE error IS NOT NULL'),
      annotationsByLabel: this.all(`SELECT l.id, l.name, count(a.id) AS n FROM labels l LEFT JOIN annotations a ON a.label_id = l.id
        GROUP BY l.id ORDER BY l.sort_order, l.id`).map((r) => ({ labelId: r.id, name: r.name, count: r.n })),
      historyEntries: count('SELECT count(*) AS n FROM edit_log'),
      embeddingCache: { entries: cache.n, bytes: cache.bytes, budgetBytes: this.embeddingBudgetBytes() },
      schemaVersion: this.get('PRAGMA user_version')!.user_version as number,
    };
  }

  /** SQLite's own full check: 'ok', or the problems it found. */
  checkIntegrity(): string {
    return this.all('PRAGMA integrity_check').map((r) => r.integrity_check as string).join('\n');
  }
}
