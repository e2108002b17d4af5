/**
 * PTQ4SAM's key observer (section 3.2): with BIG on, every decoder key quantizer finds its range
 * per image by the nested bounded searches of mean |Q(x) - x|^2.4, then the interval ends are
 * averaged over images. Its other activations use AvgMinMax and its softmax outputs AGQ.
 */
import { keyRangeSearch } from '../quantizers/range-search.ts';
import { mergedMinMax, mergedSample, RangeAverager, type RangeObserver, type TensorStats } from './types.ts';

export class KeySearchObserver implements RangeObserver {
  private readonly avg = new RangeAverager();

  constructor(private readonly bits: number, private readonly sampleCap: number) {}

  observeImage(passes: TensorStats[]): void {
    const { lo, hi } = mergedMinMax(passes);
    this.avg.add(keyRangeSearch(mergedSample(passes, this.sampleCap), lo, hi, this.bits));
  }

  range() {
    return this.avg.get();
  }
}
