/**
 * A child process for tests/sam/engine-dispose.test.ts: argv = model dir, the sam-tiny fixture
 * folder, the kind of work ('everything', 'boxes', 'encode' or 'queued') and a delay in ms.
 * It starts the work, disposes the engine after the delay while the work is still running, and
 * prints how each call ended. A process
 * that dies in onnxruntime prints nothing after "disposing".
 */
import { join } from 'node:path';
import { createEngine } from '../../main/sam/engine.ts';

const [modelDir, imagesDir, kind, delay] = process.argv.slice(2) as [string, string, string, string];
const image = join(imagesDir, 'landscape.png');
const engine = await createEngine({ threads: 1 });
const model = await engine.loadModel(modelDir);
await engine.encode(model, image);
const started = performance.now();
const work: Promise<unknown>[] = [];
if (kind === 'everything') work.push(engine.segmentEverything(model, image, { pointsPerSide: 16 }));
if (kind === 'boxes') work.push(engine.decodeBoxes(model, image, Array.from({ length: 200 }, () => [10, 10, 200, 150] as [number, number, number, number])));
// an image not encoded yet: its encoder run is in flight when dispose comes
if (kind === 'encode') work.push(engine.encode(model, join(imagesDir, 'portrait.png')));
if (kind === 'queued') for (let i = 0; i < 20; i++) work.push(engine.segment(model, image, { points: [{ x: 10 + i, y: 20, label: 1 }] }));
const outcomes = work.map((p) => p.then(() => 'done', (err: Error) => `failed: ${err.message}`));
await new Promise((r) => setTimeout(r, Number(delay)));
process.stdout.write('disposing\n');
await engine.dispose();
const after = await engine.encode(model, image).then(() => 'done', (err: Error) => `failed: ${err.message}`);
process.stdout.write(`${JSON.stringify({ outcomes: await Promise.all(outcomes), after, ms: Math.round(performance.now() - started) })}\n`);
