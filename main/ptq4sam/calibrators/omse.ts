/** OMSE baseline: per image, the clipping of [min, max] with least mean squared error on the sample. */
import { omseRange } from '../quantizers/range-search.ts';
import { mergedMinMax, mergedSample, RangeAverager, type RangeObserver, type TensorStats } from './types.ts';

export class OmseObserver implements RangeObserver {
  private readonly avg = new RangeAverager();

  constructor(private readonly bits: number, private readonly sampleCap: number) {}

  observeImage(passes: TensorStats[]): void {
    const { lo, hi } = mergedMinMax(passes);
    this.avg.add(omseRange(mergedSample(passes, this.sampleCap), lo, hi, this.bits));
  }

  range() {
    return this.avg.get();
  }
}
