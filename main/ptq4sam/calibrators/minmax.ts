/** AvgMinMax: per image, min and max over the whole tensor (all prompts), averaged over images. */
import { mergedMinMax, RangeAverager, type RangeObserver, type TensorStats } from './types.ts';

export class MinMaxObserver implements RangeObserver {
  private readonly avg = new RangeAverager();

  observeImage(passes: TensorStats[]): void {
    this.avg.add(mergedMinMax(passes));
  }

  range() {
    return this.avg.get();
  }
}
