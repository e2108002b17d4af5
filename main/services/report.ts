/**
 * A model's quantization report for the report view: report.json as the quantizer wrote it,
 * eval.json when setup compared the model with fp32, and BIG's key-activation histograms from
 * report.json scaled for drawing. A report written before the histograms were kept in
 * report.json simply has none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult, KeyHistogram, ModelReport, QuantReport } from '../../preload/contract/index.ts';

type Counts = QuantReport['big']['examined'][number]['keys_before'];

function bars(h: Counts): KeyHistogram['before'] {
  const max = Math.max(...h.counts) || 1;
  return { lo: h.lo, hi: h.hi, bars: h.counts.map((c) => c / max) };
}

/** The before/after histograms of every attention BIG examined, in the report's order. */
function keyHistograms(report: QuantReport): KeyHistogram[] {
  return (report.big?.examined ?? []).filter((b) => b.keys_before).map((b) => ({
    module: b.module, before: bars(b.keys_before), after: b.keys_after ? bars(b.keys_after) : null,
  }));
}

export function readModelReport(dir: string, name: string): ModelReport {
  const path = join(dir, 'report.json');
  if (!existsSync(path)) throw new Error(`model ${name} has no quantization report (${path})`);
  let report: QuantReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as QuantReport;
  } catch (err) {
    throw new Error(`${path}: not a readable report (${(err as Error).message})`);
  }
  const evalPath = join(dir, 'eval.json');
  let evaluation: EvalResult | null = null;
  try {
    if (existsSync(evalPath)) evaluation = JSON.parse(readFileSync(evalPath, 'utf8')) as EvalResult;
  } catch (err) {
    throw new Error(`${evalPath}: not a readable evaluation (${(err as Error).message})`);
  }
  return { report, eval: evaluation, keyHistograms: keyHistograms(report) };
}
