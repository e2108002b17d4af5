/**
 * The quantizer's report: `report.json` holds every number (the contract the CLI checks rely on,
 * the per-attention decisions, BIG's key-activation histograms before and after the fold), and
 * `report.html`, a self-contained page with the histograms as inline SVG, is rendered from it
 * alone, as the app's report view is.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BigAttention, Histogram, QuantReport } from '../../preload/contract/types.ts';

// report.json's shape is part of the app's contract (the report view reads it).
export type { BigAttention, Histogram, QuantReport };

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

function softmaxWords(c: 'agq' | 'uniform', bits: number | undefined, activationBits: number): string {
  if (c === 'agq') return 'with AGQ (log2, float ops; A.V in float)';
  const wider = bits !== undefined && bits > activationBits ? ` at ${bits} bits, wider than the other activations so that A.V stays an integer kernel` : '';
  return `uniformly${wider} (A.V as an integer kernel)`;
}

/** on which images the fidelity was measured, for the report's sentence */
function measuredOn(r: QuantReport): string {
  const names = r.fidelity.images;
  if (!names) return '';
  const list = escapeHtml(names.join(', '));
  return r.fidelity.held_out
    ? ` on ${names.length} image${names.length === 1 ? '' : 's'} not used for calibration (${list})`
    : ` on calibration images (${list}; no other image was given, so this is not a held-out measurement)`;
}

function reportHtml(r: QuantReport): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const bigRows = r.big.examined.map((b) => `<tr><td>${escapeHtml(b.module)}</td><td>${b.paper_bimodal ? 'yes' : 'no'}</td><td>${b.votes}/${b.of}</td><td>${b.folded ? 'yes' : 'no'}</td>`
    + `<td>${svgHistogram(b.keys_before, `${b.module} keys before`)}</td><td>${b.keys_after ? svgHistogram(b.keys_after, `${b.module} keys after`) : ''}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Quantization report: ${escapeHtml(r.method)} w${r.bits.w}a${r.bits.a}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:72em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}</style></head><body>
<h1>${escapeHtml(r.method)} W${r.bits.w}A${r.bits.a}</h1>
<h2>Speed, size and fidelity against fp32 (measured in the same run)</h2>
<table>${row(['', 'fp32', 'quantized', 'ratio'], 'th')}
${row(['encoder latency (median)', ms(r.latency_ms.reference.encoder), ms(r.latency_ms.model.encoder), `${(r.latency_ms.reference.encoder / r.latency_ms.model.encoder).toFixed(2)}x faster`])}
${row(['decoder latency (median)', ms(r.latency_ms.reference.decoder), ms(r.latency_ms.model.decoder), `${(r.latency_ms.reference.decoder / r.latency_ms.model.decoder).toFixed(2)}x faster`])}
${row(['model size', mb(r.size_bytes.fp32), mb(r.size_bytes.quantized), `${(r.size_bytes.fp32 / r.size_bytes.quantized).toFixed(2)}x smaller`])}</table>
<p>Mask IoU against fp32 over ${r.fidelity.prompts} prompts${measuredOn(r)}: mean ${r.fidelity.mean_iou.toFixed(4)}, min ${r.fidelity.min_iou.toFixed(4)}. Embedding relative error ${r.fidelity.embedding_rel_error.toExponential(3)}.</p>
<h2>Integer kernels in onnxruntime's optimized graphs</h2>
<table>${row(['op type', 'count'], 'th')}${Object.entries(r.integer_ops).map(([k, v]) => row([k, v])).join('')}</table>
<p>${r.integer_products_expected} products were written as integer products. ${r.weight_codes === 'uint8' ? 'The 8-bit weights are stored as uint8 codes: the int8 kernel of the machine that quantized this model adds pairs of uint8 x int8 products in saturating 16 bits (no VNNI), the uint8 x uint8 one does not. ' : ''}${r.operand_codes === 'int8' ? 'The second operand of each product of two activations is stored as int8 codes, for the exact uint8 x int8 kernel of the machine that quantized it (VNNI). ' : ''}The softmax output was quantized in the encoder ${softmaxWords(r.softmax_by_graph.encoder, r.softmax_bits?.encoder, r.bits.a)}, in the decoder ${softmaxWords(r.softmax_by_graph.decoder, r.softmax_bits?.decoder, r.bits.a)}.${r.float_modules.length ? ` Kept in float (the decoder's ops whose operands are only its few prompt and output tokens, about 2.5% of its multiply-adds): ${escapeHtml(r.float_modules.join(', '))}.` : ''}</p>
<h2>Bimodal Integration</h2>
<table>${row(['attention', 'paper test (image 0, prompt 0)', 'channel-centre votes', 'folded', 'keys before', 'keys after'], 'th')}${bigRows}</table>
<h2>AGQ</h2>
<table>${row(['attention', 'tau', 'scale'], 'th')}${r.agq.map((a) => row([a.name, a.tau, a.scale.toPrecision(5)])).join('')}</table>
<p>Calibration: ${r.calibration.images} images, ${r.calibration.forward_seconds.toFixed(1)} s of fp32 forward passes, ${r.calibration.quantize_seconds.toFixed(1)} s in all.</p>
</body></html>
`;
}

export function writeReport(dir: string, r: QuantReport): void {
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'report.html'), reportHtml(r));
}
