/** The command line against hostile or large input: output arrives whole, lookups take only real names. */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../main/sam/checkpoint/index.ts';
import { runCli } from '../helpers/cli.ts';
import { writeStateDictPth } from '../helpers/torch-save.ts';

const repo = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'hostile-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI into a shell pipe whose reader starts only after `readAfterS`, as a slow consumer does. */
function runOnSlowPipe(args: string[], readAfterS: number): Promise<{ code: number; stdout: string }> {
  const cli = join(repo, 'main/cli/index.ts');
  const script = `"${process.execPath}" --import tsx "${cli}" "$@" 2>/dev/null | (sleep ${readAfterS}; cat); exit \${PIPESTATUS[0]}`;
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script, 'cli', ...args], { cwd: repo, maxBuffer: 1 << 26 }, (err, stdout) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      if (typeof code !== 'number') reject(err);
      else resolve({ code, stdout });
    });
  });
}

describe('output on a pipe', () => {
  it('arrives whole when the report is larger than the pipe buffer', async () => {
    const folder = join(dir, 'many');
    mkdirSync(folder);
    // each file that is not really a PNG is named in the report with the decoder's error
    const names = Array.from({ length: 1000 }, (_, i) => `not-really-a-png-${String(i).padStart(5, '0')}.png`);
    for (const name of names) writeFileSync(join(folder, name), 'text');
    const db = join(dir, 'many.db');
    expect(runCli(['project', 'init', db]).code).toBe(0);
    const { code, stdout } = await runOnSlowPipe(['project', 'add', db, folder], 3);
    expect(stdout.length).toBeGreaterThan(100_000);
    const report = JSON.parse(stdout) as { unreadable: { path: string }[] };
    expect(code).toBe(0);
    expect(report.unreadable.map((u) => u.path).sort()).toEqual(names.map((n) => join(folder, n)));
  }, 60_000);
});

describe('names looked up in tables', () => {
  it.each(['constructor', 'toString', '__proto__'])('refuses --format %s', (format) => {
    const db = join(dir, `format-${format}.db`);
    expect(runCli(['project', 'init', db]).code).toBe(0);
    const exported = runCli(['project', 'export', db, '--format', format, '--out', join(dir, `out-${format}`)]);
    expect(exported.code).toBe(1);
    expect(exported.stderr).toMatch(new RegExp(`^error: project export: unknown --format "${format}" \\(expected one of: coco, `, 'm'));
    const imported = runCli(['project', 'import', db, '--format', format, '--from', dir]);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toMatch(new RegExp(`^error: project import: unknown --format "${format}"`, 'm'));
  });
});

describe('project annotate', () => {
  it('refuses a prompt whose mask is empty, storing nothing', async () => {
    // sam-tiny with the mask hypernetworks' last layers zeroed: every mask logit is 0, no pixel is in
    const dict = await readCheckpoint(join(repo, 'tests/fixtures/sam-tiny/sam_tiny.pth'));
    for (const [name, t] of dict) if (/^mask_decoder\.output_hypernetworks_mlps\.\d+\.layers\.2\./.test(name)) t.data.fill(0);
    const pth = join(dir, 'empty-masks.pth');
    writeStateDictPth(pth, dict);
    const model = join(dir, 'empty-model');
    expect(runCli(['model', 'import', pth, '--config', join(repo, 'tests/fixtures/sam-tiny/config.json'), '--out', model]).code).toBe(0);
    const db = join(dir, 'annotate.db');
    copyFileSync(join(repo, 'resources/samples/coins.png'), join(dir, 'coins.png'));
    expect(runCli(['project', 'init', db]).code).toBe(0);
    expect(runCli(['project', 'add', db, join(dir, 'coins.png')]).code).toBe(0);
    expect(runCli(['project', 'labels', db, 'add', 'coin']).code).toBe(0);
    const r = runCli(['project', 'annotate', db, '--image', join(dir, 'coins.png'), '--label', 'coin', '--model', model, '--point', '50,50,1']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: the prompt gives an empty mask on .*coins\.png; nothing was stored \(try a point on the object, or a box around it\)$/m);
    expect(r.code).toBe(1);
    expect(JSON.parse(runCli(['project', 'stats', db]).stdout).annotations).toBe(0);
  }, 180_000);
});
