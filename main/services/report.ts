/**
 * A model's quantization report for the report view: report.json as the quantizer wrote it,
 * eval.json when setup compared the model with fp32, and BIG's key-activation histograms. The
 * quantizer keeps those histograms only in report.html (as inline SVG, one per attention before
 * and after the fold), so they are read back from there; a report without them simply has none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult, KeyHistogram, ModelReport, QuantReport } from '../../preload/contract/index.ts';

type Bars = KeyHistogram['before'];

const SVG = /<svg\b[^>]*\baria-label="([^"]*) keys (before|after)"[^>]*>([\s\S]*?)<\/svg>/g;
const RECT_HEIGHT = /<rect\b[^>]*\bheight="([\d.]+)"/g;
const TEXT = /<text\b[^>]*>([^<]*)<\/text>/g;
const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"' };

function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot);/g, (e) => ENTITIES[e]!);
}

function bars(svgBody: string): Bars | null {
  const heights = [...svgBody.matchAll(RECT_HEIGHT)].map((m) => Number(m[1]));
  const [lo, hi] = [...svgBody.matchAll(TEXT)].map((m) => Number(m[1]));
  if (!heights.length || lo === undefined || hi === undefined || !Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  const max = Math.max(...heights) || 1;
  return { lo, hi, bars: heights.map((h) => h / max) };
}

/** The before/after histograms drawn in a report.html, in the order they appear. */
export function keyHistogramsFromHtml(html: string): KeyHistogram[] {
  const byModule = new Map<string, KeyHistogram>();
  for (const [, label, when, body] of html.matchAll(SVG)) {
    const module = unescapeHtml(label!);
    const b = bars(body!);
    if (!b) continue;
    if (when === 'before') byModule.set(module, { module, before: b, after: null });
    else {
      const h = byModule.get(module);
      if (h) h.after = b;
    }
  }
  return [...byModule.values()];
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
  const htmlPath = join(dir, 'report.html');
  return {
    report,
    eval: existsSync(evalPath) ? JSON.parse(readFileSync(evalPath, 'utf8')) as EvalResult : null,
    keyHistograms: existsSync(htmlPath) ? keyHistogramsFromHtml(readFileSync(htmlPath, 'utf8')) : [],
  };
}
