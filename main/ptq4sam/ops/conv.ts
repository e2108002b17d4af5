/** The neck's 3x3 convolution (image_encoder.neck.2): weight per output channel, input float. */
import { moduleOf } from './linear.ts';
import type { OpHandler, Target } from './types.ts';

export const convHandler: OpHandler = {
  match(node, ctx): Target | null {
    if (node.opType !== 'Conv' || ctx.graph !== 'encoder') return null;
    const [x, w] = node.input ?? [];
    const module = moduleOf(node.name ?? '');
    if (!x || !w || !ctx.constants.has(w) || !/^image_encoder\.neck\./.test(module)) return null;
    return {
      kind: 'conv', graph: ctx.graph, node: node.name ?? '', module, weight: w,
    };
  },
};
