/** The colour scales the two panels share, so that their maps compare directly. */
import type { ColorScale } from 'diff-transformer/browser';

export interface Scales {
  probability: ColorScale;
  signed: ColorScale;
}
