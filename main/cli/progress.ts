/** Progress lines on stderr: one per stage and per 10% step, so logs stay readable. */
export function stderrProgress(): (stage: string, done: number, total: number) => void {
  let lastStage = '';
  let lastStep = -1;
  return (stage, done, total) => {
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    const step = Math.floor(pct / 10);
    if (stage === lastStage && step === lastStep) return;
    lastStage = stage;
    lastStep = step;
    process.stderr.write(`${stage}: ${pct}%\n`);
  };
}
