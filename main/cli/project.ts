/**
 * `cli project <verb>`: the project store from the command line. Verbs:
 *   init <db>
 *   add <db> <file|dir>...                      progress on stderr, summary JSON on stdout
 *   labels <db> add <name> [--color #rrggbb]    prints the label as JSON
 *   labels <db> list                            prints the labels as a JSON list
 *   annotate <db> --image <path> --label <name> --model <modelDir> [--point X,Y,L]... [--box X0,Y0,X1,Y1]
 *                                               prints the new annotation's id alone
 *   export <db> --format coco|coco-polygons|yolo|voc|labelme --out <dir> [--tolerance <px>]
 *                                               prints the export report as JSON
 *   import <db> --format coco|yolo --from <path>  prints the import report as JSON
 *   stats <db>                                  prints counts as JSON
 */
import { exporters, importers, type ExportFormat, type ImportFormat } from '../formats/index.ts';
import { rleArea, rleFromMask } from '../masks/index.ts';
import { exportDataset, importDataset } from '../project/dataset.ts';
import { createProject, openProject, type Project } from '../project/index.ts';
import { all, CliError, type CommandGroup, optional, parseArgs, required } from './args.ts';
import { withAtomicOutDir } from './output.ts';

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The one positional argument every verb starts with. */
function dbArgument(positional: string[], verb: string): string {
  const db = positional[0];
  if (!db) throw new CliError(`project ${verb}: missing the project file argument <db>`);
  return db;
}

async function withProject<T>(db: string, work: (project: Project) => Promise<T> | T): Promise<T> {
  const project = openProject(db);
  try {
    return await work(project);
  } finally {
    project.close();
  }
}

function noExtra(positional: string[], count: number, verb: string): void {
  if (positional.length > count) throw new CliError(`project ${verb}: unexpected argument "${positional[count]}"`);
}

/** Progress on stderr: rewritten in place on a terminal, else a line every 10 %. */
function progressPrinter(what: string): (done: number, total: number) => void {
  let lastTenth = -1;
  return (done, total) => {
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${what} ${done}/${total}${done === total ? '\n' : ''}`);
      return;
    }
    const tenth = total === 0 ? 10 : Math.floor((done * 10) / total);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      process.stderr.write(`${what} ${done}/${total}\n`);
    }
  };
}

const verbs: Record<string, (argv: string[]) => Promise<number | void>> = {
  async init(argv) {
    const { positional } = parseArgs(argv, []);
    const db = dbArgument(positional, 'init');
    noExtra(positional, 1, 'init');
    createProject(db).close();
    process.stderr.write(`created project ${db}\n`);
  },

  async add(argv) {
    const { positional } = parseArgs(argv, []);
    const db = dbArgument(positional, 'add');
    const inputs = positional.slice(1);
    if (inputs.length === 0) throw new CliError('project add: give at least one image file or folder');
    const progress = progressPrinter('reading images');
    const result = await withProject(db, (p) => p.addImages(inputs, { onProgress: (e) => e.phase === 'read' && progress(e.done, e.total) }));
    printJson({ added: result.added.length, duplicates: result.duplicates, unsupported: result.unsupported, unreadable: result.unreadable });
  },

  async labels(argv) {
    const { positional, values } = parseArgs(argv, ['color']);
    const db = dbArgument(positional, 'labels');
    const action = positional[1];
    if (action === 'list') {
      noExtra(positional, 2, 'labels list');
      if (values.size > 0) throw new CliError('project labels list takes no options');
      await withProject(db, (p) => printJson(p.listLabels()));
    } else if (action === 'add') {
      const name = positional[2];
      if (!name) throw new CliError('project labels add: missing the label <name>');
      noExtra(positional, 3, 'labels add');
      const color = optional({ positional, values, switches: new Set() }, 'color');
      await withProject(db, (p) => printJson(p.addLabel({ name, ...(color === undefined ? {} : { color }) })));
    } else {
      throw new CliError(`project labels: expected "add" or "list", got ${action === undefined ? 'nothing' : `"${action}"`}`);
    }
  },

  async annotate(argv) {
    const args = parseArgs(argv, ['image', 'label', 'model', 'point', 'box']);
    const db = dbArgument(args.positional, 'annotate');
    noExtra(args.positional, 1, 'annotate');
    const imageArg = required(args, 'image');
    const labelName = required(args, 'label');
    const modelDir = required(args, 'model');
    const { parsePrompt, withEngine } = await import('./segment.ts');
    const { warmEmbedding } = await import('../sam/embedding-cache.ts');
    const prompt = parsePrompt(all(args, 'point'), optional(args, 'box'));
    const id = await withProject(db, async (p) => {
      const image = p.findImageByPath(imageArg);
      if (!image) throw new CliError(`image ${imageArg} is not in project ${p.dbPath} (add it with: project add)`);
      const label = p.findLabelByName(labelName);
      if (!label) throw new CliError(`label "${labelName}" does not exist in project ${p.dbPath} (add it with: project labels add)`);
      if (image.error !== null) throw new CliError(`image ${image.path} cannot be used: ${image.error}`);
      const file = p.resolveImagePath(image);
      if (file === null) throw new CliError(`image ${image.path} of project ${p.dbPath}: file not found (moved or deleted)`);
      return withEngine(async (engine) => {
        const model = await engine.loadModel(modelDir);
        // The project's fp16 embedding cache spares the encoder on every later click.
        if (image.sha256) await warmEmbedding(engine, model, p, { file, hash: image.sha256, width: image.width ?? 0, height: image.height ?? 0 });
        const result = await engine.segment(model, file, prompt, image.sha256 ? { imageHash: image.sha256 } : {});
        const rle = rleFromMask({ width: result.width, height: result.height, data: result.masks[result.best]! });
        // as in the app ("Nothing to accept"): an empty mask is no annotation
        if (rleArea(rle) === 0) throw new CliError(`the prompt gives an empty mask on ${image.path}; nothing was stored (try a point on the object, or a box around it)`);
        return p.addAnnotation({
          imageId: image.id, labelId: label.id, rle, prompts: { points: prompt.points, ...(prompt.box ? { box: prompt.box } : {}) },
          modelId: model.info.id, score: result.iouPredictions[result.best] ?? null,
        });
      });
    });
    process.stdout.write(`${id}\n`);
  },

  async export(argv) {
    const args = parseArgs(argv, ['format', 'out', 'tolerance']);
    const db = dbArgument(args.positional, 'export');
    noExtra(args.positional, 1, 'export');
    const format = required(args, 'format');
    // own keys only: "constructor" or "__proto__" must not pass as a format
    const exporter = Object.hasOwn(exporters, format) ? exporters[format as ExportFormat] : undefined;
    if (!exporter) throw new CliError(`project export: unknown --format "${format}" (expected one of: ${Object.keys(exporters).join(', ')})`);
    const toleranceText = optional(args, 'tolerance');
    const tolerance = toleranceText === undefined ? undefined : Number(toleranceText);
    if (tolerance !== undefined && !(tolerance >= 0)) throw new CliError(`--tolerance must be a non-negative number of pixels, got "${toleranceText}"`);
    const out = required(args, 'out');
    const progress = progressPrinter('exporting images');
    const report = await withProject(db, (p) => withAtomicOutDir(out, (outDir) =>
      exportDataset(p, exporter, { outDir, onProgress: progress, ...(tolerance === undefined ? {} : { polygonTolerancePx: tolerance }) })));
    printJson(report);
  },

  async import(argv) {
    const args = parseArgs(argv, ['format', 'from']);
    const db = dbArgument(args.positional, 'import');
    noExtra(args.positional, 1, 'import');
    const format = required(args, 'format');
    if (!Object.hasOwn(importers, format)) throw new CliError(`project import: unknown --format "${format}" (expected one of: ${Object.keys(importers).join(', ')})`);
    const from = required(args, 'from');
    const report = await withProject(db, (p) => importDataset(p, format as ImportFormat, importers[format as ImportFormat], from));
    printJson(report);
  },

  async stats(argv) {
    const { positional } = parseArgs(argv, []);
    const db = dbArgument(positional, 'stats');
    noExtra(positional, 1, 'stats');
    await withProject(db, (p) => printJson(p.stats()));
  },
};

export const projectCommands: CommandGroup = async (argv) => {
  const [verb, ...rest] = argv;
  const run = verb !== undefined && Object.hasOwn(verbs, verb) ? verbs[verb] : undefined;
  if (!run) {
    const expected = Object.keys(verbs).join(', ');
    throw new CliError(verb === undefined ? `project: give a verb (${expected})` : `project: unknown verb "${verb}" (expected one of: ${expected})`);
  }
  return run(rest);
};
