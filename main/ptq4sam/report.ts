/**
 * The quantizer's report: `report.json` (the contract the CLI checks rely on, plus details) and
 * `report.html`, a self-contained page whose histograms of BIG's key activations (before and
 * after the fold) are inline SVG.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BigModuleResult } from './calibrate.ts';

export interface QuantReport {
  method: string;
  bits: { w: number; a: number };
  big: { bimodal: string[]; folded: string[]; paper_bimodal: string[]; examined: { module: string; votes: number; of: number }[] };
  agq: { name: string; tau: number; scale: number; errors: Record<number, number> }[];
  /** how the softmax output was quantized: AGQ (float ops) or uniform (integer A.V); `mixed`: see softmax_by_graph */
  softmax: 'agq' | 'uniform' | 'mixed';
  softmax_by_graph: { encoder: 'agq' | 'uniform'; decoder: 'agq' | 'uniform' };
  size_bytes: { fp32: number; quantized: number };
  /** integer kernels in onnxruntime's optimized encoder + decoder graphs */
  integer_ops: Record<string, number>;
  /** modules kept float beyond the spec's float parts: the decoder's token-only ops (registry.ts, DECODER_TOKEN_SIDE) */
  float_modules: string[];
  /** linears, QK^T and uniform A.V products we emitted as integer products */
  integer_products_expected: number;
  quantized_layers: number;
  latency_ms: { model: { encoder: number; decoder: number }; reference: { encoder: number; decoder: number } };
  fidelity: { prompts: number; mean_iou: number; min_iou: number; embedding_rel_error: number };
  calibration: {
    images: number; forward_seconds: number; quantize_seconds: number;
    /** content sha256 of each calibration image: `eval` reports held_out false on any of them */
    image_sha256: string[];
  };
  model_id: string;
}

interface Histogram { lo: number; hi: number; counts: number[] }

export function histogram(values: Float32Array, bins = 64): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const counts = new Array<number>(bins).fill(0);
  const width = hi - lo || 1;
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / width) * bins))]! += 1;
  return { lo, hi, counts };
}

function svgHistogram(h: Histogram, title: string): string {
  const w = 320;
  const ht = 120;
  const max = Math.max(...h.counts, 1);
  const bw = w / h.counts.length;
  const bars = h.counts.map((c, i) => {
    const bh = (c / max) * (ht - 20);
    return `<rect x="${(i * bw).toFixed(1)}" y="${(ht - 14 - bh).toFixed(1)}" width="${(bw - 0.5).toFixed(1)}" height="${bh.toFixed(1)}" fill="#4a7bd0"/>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${ht}" role="img" aria-label="${escapeHtml(title)}">${bars}`
    + `<text x="0" y="${ht - 2}" font-size="10">${h.lo.toFixed(2)}</text><text x="${w}" y="${ht - 2}" font-size="10" text-anchor="end">${h.hi.toFixed(2)}</text></svg>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function row(cells: (string | number)[], tag = 'td'): string {
  return `<tr>${cells.map((c) => `<${tag}>${escapeHtml(String(c))}</${tag}>`).join('')}</tr>`;
}

function softmaxWords(c: 'agq' | 'uniform'): string {
  return c === 'agq' ? 'with AGQ (log2, float ops; A.V in float)' : 'uniformly (A.V as an integer kernel)';
}

export function reportHtml(r: QuantReport, big: BigModuleResult[]): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const bigRows = big.map((b) => `<tr><td>${escapeHtml(b.module)}</td><td>${b.paperBimodal ? 'yes' : 'no'}</td><td>${b.votes.filter(Boolean).length}/${b.votes.length}</td><td>${b.folded ? 'yes' : 'no'}</td>`
    + `<td>${svgHistogram(histogram(b.before), `${b.module} keys before`)}</td><td>${b.folded ? svgHistogram(histogram(b.after), `${b.module} keys after`) : ''}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Quantization report: ${escapeHtml(r.method)} w${r.bits.w}a${r.bits.a}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:72em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}</style></head><body>
<h1>${escapeHtml(r.method)} W${r.bits.w}A${r.bits.a}</h1>
<h2>Speed, size and fidelity against fp32 (measured in the same run)</h2>
<table>${row(['', 'fp32', 'quantized', 'ratio'], 'th')}
${row(['encoder latency (median)', ms(r.latency_ms.reference.encoder), ms(r.latency_ms.model.encoder), `${(r.latency_ms.reference.encoder / r.latency_ms.model.encoder).toFixed(2)}x faster`])}
${row(['decoder latency (median)', ms(r.latency_ms.reference.decoder), ms(r.latency_ms.model.decoder), `${(r.latency_ms.reference.decoder / r.latency_ms.model.decoder).toFixed(2)}x faster`])}
${row(['model size', mb(r.size_bytes.fp32), mb(r.size_bytes.quantized), `${(r.size_bytes.fp32 / r.size_bytes.quantized).toFixed(2)}x smaller`])}</table>
<p>Mask IoU against fp32 over ${r.fidelity.prompts} prompts: mean ${r.fidelity.mean_iou.toFixed(4)}, min ${r.fidelity.min_iou.toFixed(4)}. Embedding relative error ${r.fidelity.embedding_rel_error.toExponential(3)}.</p>
<h2>Integer kernels in onnxruntime's optimized graphs</h2>
<table>${row(['op type', 'count'], 'th')}${Object.entries(r.integer_ops).map(([k, v]) => row([k, v])).join('')}</table>
<p>${r.integer_products_expected} products were written as integer products; the softmax output was quantized in the encoder ${softmaxWords(r.softmax_by_graph.encoder)}, in the decoder ${softmaxWords(r.softmax_by_graph.decoder)}.${r.float_modules.length ? ` Kept in float (the decoder's token-only ops, about 1.5% of its multiply-adds): ${escapeHtml(r.float_modules.join(', '))}.` : ''}</p>
<h2>Bimodal Integration</h2>
<table>${row(['attention', 'paper test (image 0, prompt 0)', 'bimodal votes', 'folded', 'keys before', 'keys after'], 'th')}${bigRows}</table>
<h2>AGQ</h2>
<table>${row(['attention', 'tau', 'scale'], 'th')}${r.agq.map((a) => row([a.name, a.tau, a.scale.toPrecision(5)])).join('')}</table>
<p>Calibration: ${r.calibration.images} images, ${r.calibration.forward_seconds.toFixed(1)} s of fp32 forward passes, ${r.calibration.quantize_seconds.toFixed(1)} s in all.</p>
</body></html>
`;
}

export function writeReport(dir: string, r: QuantReport, big: BigModuleResult[]): void {
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'report.html'), reportHtml(r, big));
}
