/**
 * Setup tests: the command line run as a child process without blocking this process (the test's
 * HTTP server must keep answering), and a catalog whose one entry is the sam-tiny fixture.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '../..');
export const tinyCheckpoint = join(repo, 'tests/fixtures/sam-tiny/sam_tiny.pth');
const tinyConfig = JSON.parse(readFileSync(join(repo, 'tests/fixtures/sam-tiny/config.json'), 'utf8'));

export interface CliRun { code: number; stdout: string; stderr: string }

export interface StartedCli {
  child: ChildProcess;
  done: Promise<CliRun>;
}

/** Starts the CLI; `prelude` runs in the shell first (e.g. `ulimit -f`), then node replaces it. */
export function startCli(args: string[], options: { prelude?: string; env?: NodeJS.ProcessEnv } = {}): StartedCli {
  const cli = join(repo, 'main/cli/index.ts');
  const script = `${options.prelude ?? ''}\nexec "${process.execPath}" --import tsx "${cli}" "$@"`;
  const child = spawn('bash', ['-c', script, 'cli', ...args], { cwd: repo, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<CliRun>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, done };
}

export function runCliAsync(args: string[], options: { prelude?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return startCli(args, options).done;
}

/** Writes a catalog with the sam-tiny entry pointing at `url` (md5 overridable) and returns its path. */
export function writeTinyCatalog(dir: string, url: string, md5: string): string {
  const path = join(dir, 'catalog.json');
  const entry = { id: 'sam_tiny', name: 'SAM tiny (test fixture)', format: 'pth', url, md5, bytes: 14545147, licence: 'Apache-2.0', config: tinyConfig };
  writeFileSync(path, JSON.stringify({ models: [entry] }, null, 1));
  return path;
}

/** The last line printed on stderr (the CLI's one-line error). */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
