/**
 * How long the rest of `quantize` will take, said from the first calibration image on. The
 * calibration passes dominate and are timed as they run; the weight search and the final
 * measurement are extrapolated from constants measured on the 2-core reference machine
 * (README, PTQ4SAM section), scaled by how fast this machine ran the calibration passes
 * against that machine's ViT-B pass.
 */

/**
 * seconds per million weights of the per-channel grid search, at each weight bit width (scaled by
 * the search's speed-up with its error power as exp(2.4 ln|x|): 8 bits 0.66x, 4 and 6 bits 0.53x,
 * measured on a 768x768 weight beside the earlier code)
 */
export const WEIGHT_SEARCH_SECONDS_PER_MILLION: Record<number, number> = { 8: 1.3, 6: 5.3, 4: 4.2 };
/**
 * seconds per megapixel of a measured image, beyond its encoders: its prompts decoded by both
 * models, each chosen mask resized to the image and compared (sam-tiny's measurement of a
 * 4000x3000 image took 4.4 s longer than of a 1024x768 one, on a machine about 1.4x slower
 * than the reference)
 */
export const MEASURE_SECONDS_PER_MEGAPIXEL = 0.28;
/** seconds of one augmented fp32 ViT-B encoder calibration pass on the reference machine */
export const REFERENCE_VIT_B_PASS_SECONDS = 14;
/** ViT-B's quantized weights, in millions, to relate a model's pass time to the reference */
const REFERENCE_VIT_B_MILLION_WEIGHTS = 85;

export interface EstimateInput {
  images: number;
  imagesDone: number;
  /** mean seconds per calibration image so far */
  secondsPerImage: number;
  /** quantized weights, in millions */
  millionWeights: number;
  weightBits: number;
  /** images the final fidelity measurement encodes (with both models) */
  measureImages: number;
  /** their pixels, in millions: the masks are made and compared at their size */
  measureMegapixels?: number;
}

export function remainingSeconds(e: EstimateInput): number {
  const calibration = (e.images - e.imagesDone) * e.secondsPerImage;
  // This machine's speed against the reference, from the pass time per weight.
  const speed = (e.secondsPerImage / e.millionWeights) / (REFERENCE_VIT_B_PASS_SECONDS / REFERENCE_VIT_B_MILLION_WEIGHTS);
  const scaled = Math.max(0.25, Math.min(4, speed));
  const weights = e.millionWeights * (WEIGHT_SEARCH_SECONDS_PER_MILLION[e.weightBits] ?? WEIGHT_SEARCH_SECONDS_PER_MILLION[8]!) * scaled;
  // fp32 and quantized encoders per measured image, plus creating the optimized sessions, plus
  // the masks at the images' sizes
  const measure = e.measureImages * 1.6 * e.secondsPerImage + e.secondsPerImage + (e.measureMegapixels ?? 0) * MEASURE_SECONDS_PER_MEGAPIXEL * scaled;
  return calibration + weights + measure;
}

/**
 * Each phase's share of a quantization's time, in the order they run: about ViT-B's with the
 * default 32 calibration images on the reference machine (the encoder's calibration passes most
 * of it, then the weight search and the final measurement). Only for one bar that fills once;
 * the time left comes from `remainingSeconds`.
 */
const PHASE_SHARES: [phase: string, share: number][] = [
  ['encoder', 0.55], ['big', 0.03], ['decoder', 0.07], ['weights', 0.15], ['emit', 0.02], ['verify', 0.03], ['measure', 0.15],
];

/** How far the whole quantization is, 0..1, from its phase and the phase's done/total (a phase it does not know: 0). */
export function overallFraction(phase: string, done: number, total: number): number {
  let before = 0;
  for (const [name, share] of PHASE_SHARES) {
    if (name === phase) return before + share * (total > 0 ? Math.min(1, done / total) : 0);
    before += share;
  }
  return 0;
}
