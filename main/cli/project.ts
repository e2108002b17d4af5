/**
 * `cli project <verb>`: the project store from the command line. Verbs:
 *   init <db>
 *   add <db> <file|dir>...                      progress on stderr, summary JSON on stdout
 *   labels <db> add <name> [--color #rrggbb]    prints the label as JSON
 *   labels <db> list                            prints the labels as a JSON list
 *   annotate <db> --image <path> --label <name> --model <modelDir> [--point X,Y,L]... [--box X0,Y0,X1,Y1]
 *                                               prints the new annotation's id alone
 *   export <db> --format coco|coco-polygons|yolo|voc|labelme --out <dir> [--tolerance <px>] [--boxes-as-bboxes]
 *                                               prints the export report as JSON; box-only annotations are
 *                                               skipped and reported, or (COCO) written as bbox-only ones
 *   import <db> --format coco|yolo|labelme --from <path>  prints the import report as JSON (COCO bbox-only
 *                                               annotations, YOLO detection lines and LabelMe rectangles
 *                                               become box-only annotations)
 *   autolabel <db> --model <modelDir> --mode boxes|everything [--label <name>] [--images <path>...]
 *             [--points-per-side N] [--pred-iou-thresh x] [--stability-thresh x] [--min-area N]
 *                                               boxes to masks, or segment everything; progress on stderr,
 *                                               {"images", "created", "skipped", "seconds"} on stdout
 *   stats <db>                                  prints counts as JSON
 */
import { exporters, importers, type ExportFormat, type ImportFormat } from '../formats/index.ts';
import { rleArea, rleFromMask } from '../masks/index.ts';
import { exportDataset, importDataset } from '../project/dataset.ts';
import { createProject, openProject, type Project } from '../project/index.ts';
import { all, CliError, type CommandGroup, decimal, integerOption, optional, parseArgs, type ParsedArgs, required } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stderrProgress } from './progress.ts';

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

/** `<what> <done>/<total>` lines on stderr (the command line's one printer). */
function progressPrinter(what: string): (done: number, total: number) => void {
  const print = stderrProgress();
  return (done, total) => print({ stage: what, fraction: total === 0 ? 1 : done / total, text: `${what} ${done}/${total}` });
}

/** A number option within [min, max], or undefined when absent. */
function numberOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = optional(args, name);
  if (text === undefined) return undefined;
  const v = decimal(text);
  if (!(v >= min && v <= max)) throw new CliError(`--${name} must be a number in [${min}, ${max}], got "${text}"`);
  return v;
}

/** `project autolabel`: the generator's flags, checked; only everything mode takes them. */
function everythingOptions(args: ParsedArgs, mode: string) {
  const options = {
    pointsPerSide: integerOption(args, 'points-per-side', 1, 1024),
    predIouThresh: numberOption(args, 'pred-iou-thresh', 0, 1),
    stabilityScoreThresh: numberOption(args, 'stability-thresh', 0, 1),
    minMaskRegionArea: integerOption(args, 'min-area', 0, Number.MAX_SAFE_INTEGER),
  };
  const given = Object.entries(options).filter(([, v]) => v !== undefined);
  if (mode !== 'everything' && given.length > 0) {
    throw new CliError('project autolabel: --points-per-side, --pred-iou-thresh, --stability-thresh and --min-area apply to --mode everything only');
  }
  return Object.fromEntries(given);
}

/** Everything mode: at most one grid-progress line per image this often. */
const GRID_LINE_MS = 2000;

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

  async autolabel(argv) {
    const args = parseArgs(argv, ['model', 'mode', 'label', 'images', 'points-per-side', 'pred-iou-thresh', 'stability-thresh', 'min-area']);
    const db = dbArgument(args.positional, 'autolabel');
    const mode = required(args, 'mode');
    if (mode !== 'boxes' && mode !== 'everything') throw new CliError(`project autolabel: --mode must be boxes or everything, got "${mode}"`);
    const modelDir = required(args, 'model');
    const labelName = optional(args, 'label');
    if (mode === 'everything' && labelName === undefined) throw new CliError('project autolabel --mode everything needs --label <name> (the label of the new masks)');
    // `--images a.png b.png`: the paths after the first stay positional
    const imagePaths = args.values.has('images') ? [...all(args, 'images'), ...args.positional.slice(1)] : [];
    if (!args.values.has('images')) noExtra(args.positional, 1, 'autolabel');
    const everything = everythingOptions(args, mode);
    const { withEngine } = await import('./segment.ts');
    const { autolabelProject } = await import('../services/autolabel.ts');
    const { formatDuration } = await import('../../preload/contract/duration.ts');
    const result = await withProject(db, async (p) => {
      const label = labelName === undefined ? undefined : p.findLabelByName(labelName);
      if (label === null) throw new CliError(`label "${labelName}" does not exist in project ${p.dbPath} (add it with: project labels add)`);
      const imageIds = imagePaths.map((path) => {
        const image = p.findImageByPath(path);
        if (!image) throw new CliError(`image ${path} is not in project ${p.dbPath} (add it with: project add)`);
        return image.id;
      });
      // Ctrl-C finishes the image in progress (its masks are committed) and prints the summary.
      const stop = new AbortController();
      let lastGridLine = 0;
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        return await withEngine(async (engine) => {
          const model = await engine.loadModel(modelDir);
          return autolabelProject(p, engine, model, {
            mode, ...(label ? { labelId: label.id } : {}), ...(imagePaths.length > 0 ? { imageIds } : {}), everything, signal: stop.signal,
            onSkipped: (path, why) => process.stderr.write(`autolabel: skipped ${path}: ${why}\n`),
            onProgress: ({ done, total, created, masksPerSecond, etaSeconds, points }) => {
              // an image's grid takes up to a minute: its progress at its start, then every 2 s at most
              const now = performance.now();
              if (points && points.done > 0 && now - lastGridLine < GRID_LINE_MS) return;
              lastGridLine = points ? now : 0;
              const eta = etaSeconds === undefined ? '' : `, ${formatDuration(etaSeconds)} left`;
              const grid = points ? `, image ${done + 1}: ${points.done}/${points.total} grid points` : '';
              process.stderr.write(`autolabel: ${done}/${total} images, ${created} masks, ${masksPerSecond.toFixed(1)} masks/s${eta}${grid}\n`);
            },
          });
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
    process.stdout.write(`${JSON.stringify({ images: result.images, created: result.created, skipped: result.skipped, seconds: Number(result.seconds.toFixed(3)) })}\n`);
  },

  async export(argv) {
    const args = parseArgs(argv, ['format', 'out', 'tolerance'], ['boxes-as-bboxes']);
    const db = dbArgument(args.positional, 'export');
    noExtra(args.positional, 1, 'export');
    const format = required(args, 'format');
    // own keys only: "constructor" or "__proto__" must not pass as a format
    const exporter = Object.hasOwn(exporters, format) ? exporters[format as ExportFormat] : undefined;
    if (!exporter) throw new CliError(`project export: unknown --format "${format}" (expected one of: ${Object.keys(exporters).join(', ')})`);
    const toleranceText = optional(args, 'tolerance');
    const tolerance = toleranceText === undefined ? undefined : decimal(toleranceText);
    if (tolerance !== undefined && !(tolerance >= 0)) throw new CliError(`--tolerance must be a non-negative number of pixels, got "${toleranceText}"`);
    const out = required(args, 'out');
    const progress = progressPrinter('exporting images');
    const report = await withProject(db, (p) => withAtomicOutDir(out, (outDir) =>
      exportDataset(p, exporter, { outDir, onProgress: progress, boxesAsBboxes: args.switches.has('boxes-as-bboxes'), ...(tolerance === undefined ? {} : { polygonTolerancePx: tolerance }) })));
    printJson(report);
  },

  async import(argv) {
    const args = parseArgs(argv, ['format', 'from']);
    const db = dbArgument(args.positional, 'import');
    noExtra(args.positional, 1, 'import');
    const format = required(args, 'format');
    if (!Object.hasOwn(importers, format)) throw new CliError(`project import: unknown --format "${format}" (expected one of: ${Object.keys(importers).join(', ')})`);
    const from = required(args, 'from');
    const print = stderrProgress();
    const report = await withProject(db, (p) => importDataset(p, format as ImportFormat, importers[format as ImportFormat], from, {
      onProgress: ({ phase, done, total, read }) => {
        if (phase === 'reading') print({ stage: 'reading the dataset', fraction: read ?? 0 });
        else if (phase === 'images' && total > 0) print({ stage: 'reading new images', fraction: done / total, text: `reading new images ${done}/${total}` });
        else if (phase === 'storing') print({ stage: 'storing', fraction: 1, text: `storing ${total} annotation${total === 1 ? '' : 's'}` });
      },
    }));
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
