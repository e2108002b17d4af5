/** Spawns tests/download/run-download.ts with a shell prelude (e.g. `ulimit -f`) and extra env. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DownloadRequest } from '../../main/setup/download/index.ts';

const runner = fileURLToPath(new URL('./run-download.ts', import.meta.url));

export interface ChildOutcome {
  ok: boolean;
  code?: string;
  message?: string;
  path?: string;
  digest?: string;
}

export function downloadInChild(request: Omit<DownloadRequest, 'env' | 'onProgress' | 'signal'>, options: { prelude?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ChildOutcome> {
  const script = `${options.prelude ?? ''}\nexec "${process.execPath}" --import tsx "${runner}" "$0"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, JSON.stringify(request)], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ChildOutcome);
      } catch {
        reject(new Error(`download child printed no result; stderr: ${stderr}`));
      }
    });
  });
}
