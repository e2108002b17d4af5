/**
 * Runs one download in a child process, for tests that need process-wide settings (a file-size
 * limit, extra CA certificates). argv[2] is the DownloadRequest as JSON; prints the result or
 * the error as one JSON line.
 */
import { downloadFile, DownloadError, type DownloadRequest } from '../../main/setup/download/index.ts';

const request = JSON.parse(process.argv[2]!) as DownloadRequest;
downloadFile({ ...request, env: process.env }).then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
  },
  (err: unknown) => {
    const code = err instanceof DownloadError ? err.code : 'unexpected';
    process.stdout.write(`${JSON.stringify({ ok: false, code, message: (err as Error).message })}\n`);
    process.exitCode = 1;
  },
);
