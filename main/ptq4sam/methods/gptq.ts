/**
 * GPTQ on top of PTQ4SAM: everything as ptq4sam, then each linear's codes are re-chosen by GPTQ
 * on its calibration inputs, keeping PTQ4SAM's per-channel grids (quantizers/gptq.ts).
 */
import { gptqColumns } from '../quantizers/gptq.ts';
import { ptq4samMethod } from './ptq4sam.ts';
import type { QuantMethod } from './types.ts';

export const gptqMethod: QuantMethod = {
  ...ptq4samMethod,
  name: 'gptq',
  weightStep: {
    codes: (weight, rows, cols, hessian, grid, bits) => gptqColumns(weight, rows, cols, hessian, grid.scales, grid.zeroPoints, bits),
  },
};
