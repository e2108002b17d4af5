/**
 * main/services: the stateful services that the API handler table (main/api) and the app shell
 * share — this session (open project, allowed paths, preferences), the SAM service with its
 * queue (sam.ts), models (models.ts), first-run setup (setup.ts), the job child process
 * (jobs.ts, job-process.ts), the image server and the report reader. Plain Node (no electron);
 * tests in tests/app/ and tests/e2e/.
 *
 * The main process's state behind the API: the open project, the paths the user chose, the
 * app preferences, the SAM service and the image server. One per window.
 */
import { existsSync, mkdirSync, copyFileSync, readdirSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createProject, openProject, type Project } from '../project/index.ts';
import type { ProjectInfo } from '../../preload/contract/index.ts';
import type { ApiContext } from './context.ts';
import { ImageServer } from './images.ts';
import { endAllJobs } from './jobs.ts';
import { AllowedPaths } from './paths.ts';
import { PrefsFile } from './prefs.ts';
import { SamService } from './sam.ts';

const RECENT_MAX = 10;
const LAST_IMAGE_KEY = 'ui.lastImageId';
const SAMPLE_LABELS = [{ name: 'object', hotkey: '1' }, { name: 'background', hotkey: '2' }];

export class Session {
  project: Project | null = null;
  generation = 0;
  readonly allowed = new AllowedPaths();
  readonly prefs: PrefsFile;
  readonly sam: SamService;
  readonly images = new ImageServer();
  readonly modelsDir: string;
  readonly sampleDir: string;

  constructor(readonly ctx: ApiContext) {
    this.prefs = new PrefsFile(ctx.appDataDir);
    this.sam = new SamService(ctx.engine, (e) => ctx.emit(e), ctx.executionProvider);
    this.modelsDir = join(ctx.appDataDir, 'models');
    this.sampleDir = join(ctx.appDataDir, 'sample');
    for (const p of this.prefs.get().recentProjects) this.allowed.allowFile(p);
    this.allowed.allowFolder(this.modelsDir);
    this.allowed.allowFolder(this.sampleDir);
  }

  need(): Project {
    if (!this.project) throw new Error('no project is open');
    return this.project;
  }

  /** the open project is the bundled sample project (a folder named like it is not) */
  isSample(): boolean {
    if (!this.project) return false;
    const rel = relative(this.sampleDir, this.project.dbPath);
    return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  }

  info(sample = this.isSample()): ProjectInfo {
    const p = this.need();
    return {
      path: p.dbPath,
      name: basename(p.dbPath).replace(/\.[^.]+$/, ''),
      lastImageId: p.getSetting<number>(LAST_IMAGE_KEY) ?? null,
      sample,
      readOnly: p.readOnly,
      damage: p.damage,
      imageUrlBase: this.ctx.imageUrlBase(this.generation),
    };
  }

  #use(project: Project): ProjectInfo {
    this.sam.cancelAll();
    this.project?.close();
    this.project = project;
    this.generation++;
    this.allowed.allowFolder(project.dir);
    if (!this.isSample()) {
      this.prefs.update((p) => { p.recentProjects = [project.dbPath, ...p.recentProjects.filter((r) => r !== project.dbPath)].slice(0, RECENT_MAX); });
    }
    return this.info();
  }

  create(path: string): ProjectInfo { return this.#use(createProject(path)); }
  open(path: string): ProjectInfo { return this.#use(openProject(path)); }

  /** The sample project: the bundled photos copied into the app's data folder on first use. */
  async openSample(): Promise<ProjectInfo> {
    const dbPath = join(this.sampleDir, 'sample.ptq4sam');
    if (existsSync(dbPath)) return this.#use(openProject(dbPath));
    const imagesDir = join(this.sampleDir, 'images');
    mkdirSync(imagesDir, { recursive: true });
    const source = join(this.ctx.resourcesDir, 'samples');
    const files = existsSync(source) ? readdirSync(source).filter((f) => /\.(png|jpe?g|webp|tiff?|bmp)$/i.test(f)) : [];
    for (const f of files) copyFileSync(join(source, f), join(imagesDir, f));
    const project = createProject(dbPath);
    for (const l of SAMPLE_LABELS) project.addLabel(l);
    if (files.length) await project.addImages([imagesDir]);
    return this.#use(project);
  }

  setLastImage(imageId: number): void {
    // an id of no image would come back as the image to open next time
    this.need().getImage(imageId);
    // a convenience, not an edit: a read-only project simply does not remember it
    if (this.need().readOnly) return;
    this.need().setSetting(LAST_IMAGE_KEY, imageId);
  }

  resolveChosen(where: string, path: string): string {
    return this.allowed.check(where, resolve(path));
  }

  /** The app is done with this window: jobs end, SAM requests are dropped, the project file is closed. */
  close(): void {
    endAllJobs();
    this.sam.cancelAll();
    this.project?.close();
    this.project = null;
  }
}
