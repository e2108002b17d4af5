import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serveBytes, startServer, type Handler, type TestServer } from '../download/fixture-server.ts';
import { startCli, tinyCheckpoint, writeTinyCatalog, type StartedCli } from './helpers.ts';

const checkpoint = readFileSync(tinyCheckpoint);
const md5 = createHash('md5').update(checkpoint).digest('hex');
const sha256 = createHash('sha256').update(checkpoint).digest('hex');

let server: TestServer;
let dir: string;
const started: StartedCli[] = [];

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'setup-e2e-'));
});

afterAll(async () => {
  for (const cli of started) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends the headers and the first half of the body, then holds the connection open. */
function halfThenHold(bytes: Buffer): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': bytes.length, etag: '"tiny-1"' });
    res.write(bytes.subarray(0, bytes.length / 2));
  };
}

function partialBytes(downloads: string): number {
  if (!existsSync(downloads)) return 0;
  const part = readdirSync(downloads).find((f) => f.endsWith('.part'));
  return part ? statSync(join(downloads, part)).size : 0;
}

it('setup killed mid-download resumes with a Range request, then builds, quantizes and evaluates sam-tiny', async () => {
  const out = join(dir, 'models', 'tiny-w8a8');
  const cache = join(dir, 'cache');
  const downloads = join(cache, 'downloads');
  const calib = join(dir, 'calib');
  mkdirSync(calib);
  for (const f of ['chelsea.png', 'coins.png']) copyFileSync(new URL(`../../resources/samples/${f}`, import.meta.url), join(calib, f));
  const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
  const args = ['setup', '--model', 'sam_tiny', '--catalog', catalog, '--calib', calib, '--out', out, '--cache-dir', cache];

  // first run: killed (as by a crash or a closed laptop) once part of the file is on disk
  server.route('/sam_tiny.pth', halfThenHold(checkpoint));
  const first = startCli(args);
  started.push(first);
  while (partialBytes(downloads) === 0) await sleep(50);
  first.child.kill('SIGKILL');
  await first.done;
  const resumeAt = partialBytes(downloads);
  expect(resumeAt).toBeGreaterThan(0);
  expect(existsSync(out)).toBe(false);

  // second run, same arguments: resumes the partial file and finishes every step
  server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"tiny-1"' }));
  const secondRun = startCli(args);
  started.push(secondRun);
  const second = await secondRun.done;
  expect(second.stderr).not.toMatch(/^error:/m);
  expect(second.code).toBe(0);
  expect(server.requests[1]!.headers.range).toBe(`bytes=${resumeAt}-`);
  expect(server.requests[1]!.status).toBe(206);
  expect(second.stdout).toBe(`${join(out, 'report.json')}\n`);

  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  expect(report.method).toBe('ptq4sam');
  expect(report.bits).toEqual({ w: 8, a: 8 });
  const evaluation = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
  expect(evaluation.prompts).toBeGreaterThan(0);
  expect(evaluation.mean_iou).toBeGreaterThan(0);
  // two images: one calibrates, the other is held out; the comparison and the report judge on it
  expect(report.calibration.images).toBe(1);
  expect(report.fidelity).toMatchObject({ images: ['coins.png'], held_out: true });
  expect(evaluation.held_out).toBe(true);
  expect(evaluation.calibration_overlap).toEqual([]);
  // the comparison is the quantizer's own measurement of the same image, not a second run of both models
  expect(evaluation.latency_ms).toEqual(report.latency_ms);
  expect(evaluation.mean_iou).toBe(report.fidelity.mean_iou);
  expect(second.stderr).toMatch(/calibrating on 1 image of .*calib, holding out coins\.png for the comparison/);
  expect(second.stderr).toMatch(/comparing with fp32 on 1 held-out image \(coins\.png\)/);
  expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).quantization.bits).toEqual({ w: 8, a: 8 });

  // the fp32 model was built from exactly the served bytes, and nothing half-done is left
  const fp32 = JSON.parse(readFileSync(join(cache, 'models', `sam_tiny-${md5.slice(0, 6)}-fp32`, 'model.json'), 'utf8'));
  expect(fp32.source.sha256).toBe(sha256);
  expect(readdirSync(downloads)).toEqual([]);
  expect(readdirSync(join(cache, 'setup'))).toEqual([]);
}, 600_000);
