/**
 * The annotation app's responsiveness through the real renderer (Chromium, as in the e2e tests)
 * with window.api bound to the real back end and the sam-tiny model:
 *   npm run bench -- ui [--clicks N] [--threads T] [--path now|today|both]
 * `--threads` is the engine's onnxruntime thread count (default 0: the app's setting, every
 * core). The click, hover and 8000x6000 rows run today's path (split decoder, view
 * postprocessing) and the earlier one (whole decoder, exact postprocessing), alternating in the
 * same run (`--path both`, the default); the last column gives the earlier path and the ratio.
 * - click to mask on screen: pointer down -> the new mask drawn (next animation frame), and the
 *   part of it that is not the decoder (the UI path: IPC, validation, mask views, bitmap, draw);
 *   the window asks for the best candidate's view alone and then for the others (Tab), the
 *   earlier path for all four in the click's answer; the time until the others are there too;
 * - the same click while a hover preview is in flight (a pointer move just before it), and a
 *   click where the pointer rested until its hover preview was drawn (the usual click: the
 *   engine answers it from the hover's candidates);
 * - hover preview rate: previews drawn per second while the pointer moves every 4 ms (stale
 *   requests are dropped, so this is bounded by the decoder, not by the event rate);
 * - image switch with a cached embedding: key D -> the image drawn and its embedding ready;
 * - frame time while panning with 1,000 annotations on one image, and on an 8000x6000 photo: a
 *   synchronous redraw of every layer per pan step; a click's mask on that photo, with its parts,
 *   and the same clicks with the trained sam-shapes model (smooth masks, as real weights give);
 * - time to the first mask on a newly opened 1024x768 image with the wizard's default model (a
 *   full-size synthetic SAM 2.1 Hiera-T, fp32 and, when `bench -- quant` left one, w8a8): the
 *   encoder and the first click through the engine, as the app runs them.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { maskFromPolygons, rleFromMask } from '../main/masks/index.ts';
import { activateTinyModel, buildRenderer, createStudio, FIXTURES, ROOT } from '../tests/e2e/harness.ts';
import { arg, median } from './stats.ts';
import type { PredictPath } from '../main/sam/inference.ts';
import { createEngine } from '../main/sam/engine.ts';
import { BENCH_CACHE, cachedSam2 } from './synth-cache.ts';

const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;

export async function main(args: string[]): Promise<void> {
  const clicks = arg(args, 'clicks', 30);
  const threads = arg(args, 'threads', 0);
  const pathArg = args.includes('--path') ? args[args.indexOf('--path') + 1]! : 'both';
  const paths: Record<'now' | 'today', PredictPath> = { now: { decoder: 'split', postprocess: 'view' }, today: { decoder: 'whole', postprocess: 'exact' } };
  const runPaths = (pathArg === 'both' ? ['now', 'today'] : [pathArg]) as ('now' | 'today')[];
  if (!runPaths.every((p) => p in paths)) throw new Error(`--path ${pathArg}: expected now, today or both`);
  const rendererDir = await buildRenderer();
  const pre = await createStudio({ rendererDir, engineThreads: threads });
  let current: 'now' | 'today' | null = null;
  const usePath = async (p: 'now' | 'today') => {
    if (p !== current) await pre.engine.setPredictPath(paths[p]);
    current = p;
  };
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  for (const f of ['landscape.png', 'portrait.png', 'large.png']) copyFileSync(join(FIXTURES, f), join(images, f));
  const huge = `<svg xmlns="http://www.w3.org/2000/svg" width="8000" height="6000"><rect x="1000" y="1000" width="2500" height="1800" fill="#e0c040"/><circle cx="5600" cy="3800" r="1300" fill="#40a0e0"/></svg>`;
  await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#202428' } }).composite([{ input: Buffer.from(huge) }]).jpeg({ quality: 85 }).toFile(join(images, 'huge-8000x6000.jpg'));
  // the image size for the trained model's clicks: a sample photo at 1024x768
  await sharp(join(ROOT, 'resources/samples/coffee.png')).resize(1024, 768, { fit: 'fill' }).png().toFile(join(images, 'photo-1024x768.png'));
  await activateTinyModel(pre);
  const projectPath = join(pre.dir, 'bench.ptq4sam');
  pre.session.allowed.allowFile(projectPath);
  pre.session.allowed.allowFolder(images);
  await pre.handlers.projectCreate({ path: projectPath });
  const label = await pre.handlers.labelCreate({ name: 'thing', hotkey: '1' });
  await pre.handlers.imagesAddFolder({ path: images });
  const project = pre.session.need();
  const byName = (n: string) => project.listImages({}).items.find((i) => i.path.endsWith(n))!;
  // 1,000 small masks on large.png (1400x1000)
  const large = byName('large.png');
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 1000; i++) {
    const cx = 40 + rnd() * 1320, cy = 40 + rnd() * 920, r = 8 + rnd() * 30;
    const outer = Array.from({ length: 16 }, (_, k) => [cx + r * Math.cos((k * Math.PI) / 8), cy + r * Math.sin((k * Math.PI) / 8)]).flat();
    project.addAnnotation({ imageId: large.id, labelId: label.id, rle: rleFromMask(maskFromPolygons([{ outer, holes: [] }], 1400, 1000)) });
  }
  // the main process's share of a click: the handler's time beyond the decoder's
  const handlerMs: number[] = [];
  const samPredict = pre.handlers.samPredict;
  pre.handlers.samPredict = async (x) => {
    const t0 = performance.now();
    // today's path: every candidate's view in the click's answer (the window asks for the best alone)
    const call = x as { preview?: boolean };
    const r = await samPredict(current === 'today' && !call.preview ? { ...call, candidates: 'all' } : x);
    handlerMs.push(performance.now() - t0 - r.decoderMs);
    return r;
  };
  const studio = await pre.open();
  const { page } = studio;
  // the page's side of each API call: when it left and when its answer came back
  await page.evaluate(() => {
    const w = window as any;
    const call = w.__apiCall;
    w.__apiTimes = {};
    w.__apiCall = async (m: string, a: unknown) => {
      const sent = performance.now();
      const r = await call(m, a);
      w.__apiTimes[m] = { sent, back: performance.now() };
      return r;
    };
  });
  const canvas = page.locator('.canvas');
  const openImage = async (name: string) => {
    await page.locator('.image-item', { hasText: name }).click();
    await page.waitForFunction((id) => document.querySelector('.canvas')?.getAttribute('data-loaded-image') === String(id) && !document.querySelector('[data-testid=encoding]'), byName(name).id);
  };

  try {
    // ---- click to mask on screen (alone, and right after a hover move), each path in turn ----
    await openImage('landscape.png');
    const clickAt = (k: number, hoverFirst: boolean, spread = 1, rested = false) => page.evaluate(async ({ k, hoverFirst, spread, rested }) => {
      const el = document.querySelector('.canvas') as HTMLElement;
      const r = el.getBoundingClientRect();
      const [scale, vx, vy] = el.dataset.view!.split(',').map(Number) as [number, number, number];
      const x = r.left + vx + (40 + ((k * 37) % 240)) * spread * scale, y = r.top + vy + (30 + ((k * 53) % 180)) * spread * scale;
      if (rested) {
        // the pointer rests on the point until its hover preview is drawn, then clicks there
        const shown = el.dataset.shownCount;
        el.dispatchEvent(new PointerEvent('pointermove', { clientX: x, clientY: y, bubbles: true, pointerId: 1 }));
        await new Promise<void>((res) => { const check = () => (el.dataset.shownCount !== shown ? res() : setTimeout(check, 2)); check(); });
        await new Promise((res) => setTimeout(res, 20));
      }
      if (hoverFirst) {
        el.dispatchEvent(new PointerEvent('pointermove', { clientX: x + 9, clientY: y + 7, bubbles: true, pointerId: 1 }));
        await new Promise((res) => setTimeout(res, 2)); // the hover request is on its way
      }
      const before = el.dataset.shownCount;
      const drawn = new Promise<void>((res) => {
        const obs = new MutationObserver(() => {
          if (el.dataset.shownCount === before || !(window as any).__studio.app.engine.result) return;
          obs.disconnect();
          requestAnimationFrame(() => res());
        });
        obs.observe(el, { attributes: true, attributeFilter: ['data-shown-count'] });
      });
      const t0 = performance.now();
      el.dispatchEvent(new PointerEvent('pointerdown', { clientX: x, clientY: y, button: 0, bubbles: true, pointerId: 1 }));
      el.dispatchEvent(new PointerEvent('pointerup', { clientX: x, clientY: y, button: 0, bubbles: true, pointerId: 1 }));
      await drawn;
      const end = performance.now();
      const { sent, back } = (window as any).__apiTimes.samPredict as { sent: number; back: number };
      const decoder = (window as any).__studio.app.engine.result.decoderMs as number;
      // the other candidates' views (asked for once the best one is drawn): until Tab has them
      await new Promise<void>((res) => { const check = () => ((window as any).__studio.app.engine.candidatesReady ? res() : setTimeout(check, 1)); check(); });
      return { ms: end - t0, call: back - sent, renderer: end - t0 - (back - sent), decoder, others: performance.now() - end };
    }, { k, hoverFirst, spread, rested });
    const perPath = () => ({ clickMs: [] as number[], othersMs: [] as number[], decoderMs: [] as number[], rendererMs: [] as number[], transportMs: [] as number[], mainMs: [] as number[], afterHoverMs: [] as number[], hugeMs: [] as number[], previewsPerSecond: 0, movesPerSecond: 0 });
    const m = { now: perPath(), today: perPath() };
    for (let i = 0; i < 2 * runPaths.length * (clicks + 3); i++) {
      const hoverFirst = i % 2 === 1;
      const path = runPaths[(i >> 1) % runPaths.length]!;
      await usePath(path);
      handlerMs.length = 0;
      const t = await clickAt(i >> (runPaths.length === 2 ? 2 : 1), hoverFirst);
      await page.keyboard.press('Escape');
      if (i < 6 * runPaths.length) continue;
      const r = m[path];
      if (hoverFirst) { r.afterHoverMs.push(t.ms); continue; }
      const main = handlerMs.at(-1)!;
      r.clickMs.push(t.ms);
      r.othersMs.push(t.others);
      r.decoderMs.push(t.decoder);
      r.rendererMs.push(t.renderer);
      r.mainMs.push(main);
      r.transportMs.push(t.call - t.decoder - main);
    }

    /** pointer moves over the canvas for 3 s: previews drawn and moves made per second */
    const hoverRate = () => page.evaluate(async () => {
      const el = document.querySelector('.canvas') as HTMLElement;
      const r = el.getBoundingClientRect();
      const start = Number(el.dataset.shownCount);
      const t0 = performance.now();
      let moves = 0;
      while (performance.now() - t0 < 3000) {
        const a = moves * 0.05;
        el.dispatchEvent(new PointerEvent('pointermove', { clientX: r.left + r.width / 2 + 150 * Math.cos(a), clientY: r.top + r.height / 2 + 100 * Math.sin(a), bubbles: true, pointerId: 1 }));
        moves++;
        await new Promise((res) => setTimeout(res, 4));
      }
      const seconds = (performance.now() - t0) / 1000;
      return { previewsPerSecond: (Number(el.dataset.shownCount) - start) / seconds, movesPerSecond: moves / seconds };
    });

    // ---- hover preview rate ----
    for (const path of runPaths) {
      await usePath(path);
      const hover = await hoverRate();
      m[path].previewsPerSecond = hover.previewsPerSecond;
      m[path].movesPerSecond = hover.movesPerSecond;
    }

    // ---- image switch with a cached embedding ----
    await openImage('portrait.png');
    await openImage('landscape.png');
    const switchMs: number[] = [];
    const ids = [byName('landscape.png').id, byName('portrait.png').id];
    for (let i = 0; i < 20; i++) {
      const target = ids[(i + 1) % 2]!;
      await page.locator(`.image-item[data-image-id="${ids[i % 2]}"]`).waitFor();
      const ms = await page.evaluate(async (target) => {
        const el = document.querySelector('.canvas') as HTMLElement;
        const t0 = performance.now();
        (document.querySelector(`.image-item[data-image-id="${target}"]`) as HTMLElement).click();
        while (el.dataset.loadedImage !== String(target) || document.querySelector('[data-testid=encoding]')) {
          await new Promise((res) => requestAnimationFrame(res));
        }
        return performance.now() - t0;
      }, target);
      if (i >= 2) switchMs.push(ms);
    }

    // ---- frame time while panning: 1,000 annotations, then an 8000x6000 photo ----
    const panFrames = () => page.evaluate(async () => {
      const { app, stage } = (window as any).__studio;
      const times: number[] = [];
      for (let i = 0; i < 130; i++) {
        const t0 = performance.now();
        app.view.panBy(i % 20 < 10 ? 3 : -3, 1);
        stage.scale({ x: app.view.scale, y: app.view.scale });
        stage.position({ x: app.view.x, y: app.view.y });
        stage.draw();
        times.push(performance.now() - t0);
        await new Promise((res) => requestAnimationFrame(res));
      }
      return times.slice(10);
    });
    await openImage('large.png');
    await canvas.waitFor();
    const frameMs = await panFrames();
    const annotationsOnLarge = await page.locator('[data-annotation-id]').count();
    await openImage('huge-8000x6000.jpg');
    const hugeFrameMs = await panFrames();
    // a click on the photo (its embedding is ready: the image is open), each path in turn; the
    // fixture clicks spread over the 8000x6000 pixels
    const hugeParts = { decoderMs: [] as number[], mainMs: [] as number[], rendererMs: [] as number[], transportMs: [] as number[], othersMs: [] as number[] };
    for (let i = 0; i < 6 * runPaths.length; i++) {
      const path = runPaths[i % runPaths.length]!;
      await usePath(path);
      handlerMs.length = 0;
      const t = await clickAt(i, false, 25);
      await page.keyboard.press('Escape');
      if (i < 2 * runPaths.length) continue;
      m[path].hugeMs.push(t.ms);
      if (path !== runPaths[0]) continue;
      hugeParts.decoderMs.push(t.decoder);
      hugeParts.mainMs.push(handlerMs.at(-1)!);
      hugeParts.rendererMs.push(t.renderer);
      hugeParts.transportMs.push(t.call - t.decoder - handlerMs.at(-1)!);
      hugeParts.othersMs.push(t.others);
    }
    // the same clicks with the trained model (sam-shapes: the same architecture, smooth masks as
    // real weights give; sam-tiny's random weights give noise, every sample an edge)
    await usePath(runPaths[0]!);
    const shapes = join(FIXTURES, '../sam-shapes');
    for (const f of ['sam_shapes.pth', 'config.json']) pre.session.allowed.allowFile(join(shapes, f));
    const trained = await studio.handlers.modelImportCheckpoint({ checkpointPath: join(shapes, 'sam_shapes.pth'), configPath: join(shapes, 'config.json'), name: 'sam-shapes' });
    await studio.handlers.modelSetActive({ modelId: trained.id });
    await page.evaluate(() => (window as any).__studio.app.engine.refreshStatus());
    await openImage('large.png');
    await openImage('huge-8000x6000.jpg');
    const trainedHugeMs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = await clickAt(i, false, 25);
      await page.keyboard.press('Escape');
      if (i >= 2) trainedHugeMs.push(t.ms);
    }
    // and on a 1024x768 photo, clicks and hovers with smooth masks (the views cost what real weights' do)
    await openImage('photo-1024x768.png');
    const trainedClickMs: number[] = [], trainedDecoderMs: number[] = [], trainedTransportMs: number[] = [];
    for (let i = 0; i < clicks + 3; i++) {
      handlerMs.length = 0;
      const t = await clickAt(i, false, 3);
      await page.keyboard.press('Escape');
      if (i < 3) continue;
      trainedClickMs.push(t.ms);
      trainedDecoderMs.push(t.decoder);
      trainedTransportMs.push(t.call - t.decoder - handlerMs.at(-1)!);
    }
    const trainedHover = await hoverRate();
    // the usual click: where the pointer rested, its hover preview already on screen
    const restedClickMs: number[] = [], restedDecoderMs: number[] = [];
    for (let i = 0; i < clicks + 3; i++) {
      const t = await clickAt(i, false, 3, true);
      await page.keyboard.press('Escape');
      if (i < 3) continue;
      restedClickMs.push(t.ms);
      restedDecoderMs.push(t.decoder);
    }

    const mp = (xs: number[]) => `${median(xs).toFixed(1)} / ${p90(xs).toFixed(1)} ms`;
    const main = m[runPaths[0]!];
    const earlier = runPaths.length === 2 ? m.today : null;
    const vs = (f: (r: typeof main) => number, unit = 'ms') => (earlier ? `${f(earlier).toFixed(1)} ${unit} (now / earlier ${(f(main) / f(earlier)).toFixed(2)})` : '');
    const rows: [string, string, string, string][] = [
      ['click to mask on screen (median / p90)', mp(main.clickMs), '< 50 ms', vs((r) => median(r.clickMs))],
      ['  the decoder (engine worker)', mp(main.decoderMs), '', vs((r) => median(r.decoderMs))],
      ['  main process beyond the decoder (handler, mask views)', mp(main.mainMs), '', vs((r) => median(r.mainMs))],
      ['  renderer (event to request, answer to drawn frame)', mp(main.rendererMs), '', vs((r) => median(r.rendererMs))],
      ['  test transport (Playwright binding; Electron IPC in the app)', mp(main.transportMs), '', vs((r) => median(r.transportMs))],
      ['  then the other candidates\' views, asked for after the mask is drawn (until Tab has them)', mp(main.othersMs), '', vs((r) => median(r.othersMs))],
      ['click right after a hover move (median / p90)', mp(main.afterHoverMs), '', vs((r) => median(r.afterHoverMs))],
      ['hover previews drawn per second', `${main.previewsPerSecond.toFixed(1)} /s (pointer ${main.movesPerSecond.toFixed(0)} moves/s)`, '>= 25 /s', vs((r) => r.previewsPerSecond, '/s')],
      ['image switch, cached embedding (median / p90)', mp(switchMs), '< 100 ms', ''],
      [`pan frame, ${annotationsOnLarge} annotations (median / p90)`, `${median(frameMs).toFixed(2)} / ${p90(frameMs).toFixed(2)} ms`, '< 16 ms', ''],
      ['pan frame, 8000x6000 photo (median / p90)', `${median(hugeFrameMs).toFixed(2)} / ${p90(hugeFrameMs).toFixed(2)} ms`, '< 16 ms', ''],
      ['click to mask on screen, 8000x6000 photo (median / p90)', mp(main.hugeMs), '<= 150 ms', vs((r) => median(r.hugeMs))],
      ['  the decoder and the views (engine worker)', mp(hugeParts.decoderMs), '', ''],
      ['  main process beyond the decoder (handler)', mp(hugeParts.mainMs), '', ''],
      ['  renderer (event to request, answer to drawn frame)', mp(hugeParts.rendererMs), '', ''],
      ['  test transport (Playwright binding; Electron IPC in the app)', mp(hugeParts.transportMs), '', ''],
      ['  then the other candidates\' views (until Tab has them)', mp(hugeParts.othersMs), '', ''],
      ['click to mask on screen, 8000x6000 photo, trained model (sam-shapes: smooth masks)', mp(trainedHugeMs), '<= 150 ms', ''],
      ['click to mask on screen, 1024x768 photo, trained model (sam-shapes: smooth masks)', mp(trainedClickMs), '< 50 ms', ''],
      ['  the decoder and the views (engine worker)', mp(trainedDecoderMs), '', ''],
      ['  test transport (Playwright binding; Electron IPC in the app)', mp(trainedTransportMs), '', ''],
      ['click to mask on screen where the pointer rested (its hover preview shown), 1024x768 photo, trained model', mp(restedClickMs), '< 50 ms', ''],
      ['  the views from the hover\'s candidates (engine worker; no decoder run)', mp(restedDecoderMs), '', ''],
      ['hover previews drawn per second, 1024x768 photo, trained model (sam-shapes: smooth masks)', `${trainedHover.previewsPerSecond.toFixed(1)} /s (pointer ${trainedHover.movesPerSecond.toFixed(0)} moves/s)`, '>= 25 /s', ''],
    ];
    const status = await studio.handlers.engineStatus(undefined);
    process.stdout.write(`\nUI benchmark (sam-tiny, ${status.executionProvider}, ${threads || 'default'} engine threads, headless Chromium, software rendering; path ${runPaths[0]}; load ${loadavg()[0]!.toFixed(2)})\n\n`);
    process.stdout.write(`| measure | result | target | ${earlier ? 'earlier path (whole decoder, exact postprocessing)' : ''} |\n|---|---|---|---|\n`);
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
    process.stdout.write(`\nlast decoder latency reported by the engine: ${status.lastDecoderMs?.toFixed(1)} ms\n`);
  } finally {
    await studio.close();
  }
  await firstMaskRows(threads);
}

/**
 * Time to the first mask on a newly opened 1024x768 image with the wizard's default model, SAM 2.1
 * Hiera-T (synthetic, full size; cached in the temp folder as `bench -- sam` caches it): the
 * image decoded and encoded, then one click's views, each image new to the engine. The w8a8 row
 * runs when a quantized copy is there (`cli quantize` into `synth-sam2.1-hiera_t-w8a8`).
 */
async function firstMaskRows(threads: number): Promise<void> {
  const models: [string, string][] = [['fp32', await cachedSam2('hiera_t')]];
  const w8a8 = join(BENCH_CACHE, 'synth-sam2.1-hiera_t-w8a8');
  if (existsSync(join(w8a8, 'model.json'))) models.push(['w8a8', w8a8]);
  const dir = mkdtempSync(join(tmpdir(), 'bench-first-mask-'));
  const engine = await createEngine({ threads });
  try {
    process.stdout.write('\n| time to the first mask, newly opened 1024x768 image, SAM 2.1 Hiera-T (synthetic) | median of 3 | encoder | first click |\n|---|---|---|---|\n');
    for (const [name, modelDir] of models) {
      const model = await engine.loadModel(modelDir);
      const total: number[] = [], encoder: number[] = [], click: number[] = [];
      for (let i = 0; i < 4; i++) {
        const file = join(dir, `${name}-${i}.png`);
        await sharp({ create: { width: 1024, height: 768, channels: 3, background: { r: 40 + 50 * i, g: 90, b: 160 - 30 * i } } })
          .composite([{ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="1024" height="768"><circle cx="${400 + 40 * i}" cy="380" r="180" fill="#e0c040"/></svg>`) }]).png().toFile(file);
        const t0 = performance.now();
        const info = await engine.encode(model, file);
        const t1 = performance.now();
        await engine.predictViews(model, file, { points: [{ x: 420, y: 380, label: 1 }] }, { imageHash: info.imageHash });
        const t2 = performance.now();
        if (i === 0) continue; // warm-up
        total.push(t2 - t0); encoder.push(t1 - t0); click.push(t2 - t1);
      }
      process.stdout.write(`| ${name} | ${(median(total) / 1000).toFixed(2)} s | ${(median(encoder) / 1000).toFixed(2)} s | ${median(click).toFixed(1)} ms |\n`);
      await engine.unloadModel(model.key);
    }
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('ui.ts')) await main(process.argv.slice(2));
