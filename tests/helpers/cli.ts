/** Runs the command line as users do (a child process), capturing its output. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '../..');

export interface CliResult { code: number; stdout: string; stderr: string }

export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'main/cli/index.ts'), ...args], {
    cwd: opts.cwd ?? REPO,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: opts.timeoutMs ?? 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
