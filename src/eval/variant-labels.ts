/** The variants in the order of the report's columns and series, and their display labels. */
import type { Variant } from '../model/config.ts';
import { VARIANTS, variantLabel } from '../model/variants/index.ts';

export const VARIANT_ORDER: readonly Variant[] = VARIANTS;
export const LABELS = Object.fromEntries(VARIANTS.map((v) => [v, variantLabel(v)])) as Record<
  Variant,
  string
>;
