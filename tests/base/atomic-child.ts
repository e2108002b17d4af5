/** A child for atomic-signals.test.ts: works in an atomic output folder until a signal ends it. */
import { withAtomicDir } from '../../main/base/atomic.ts';

const out = process.argv[2]!;
await withAtomicDir(out, async (tmp) => {
  process.stdout.write(`${tmp}\n`);
  await new Promise(() => setInterval(() => undefined, 1000)); // until a signal
});
