/**
 * The variant registry: the one list of attention variants, in the order the tools show them, and
 * the lookup every caller uses instead of testing a variant's name. To add a variant, write its
 * module (see ./variant.ts) and add it here.
 */
import type { ModelConfig } from '../config.ts';
import { ConfigError } from '../config-error.ts';
import { baseline } from './baseline.ts';
import { diff } from './diff.ts';
import { diffv2 } from './diffv2.ts';
import type { VariantModule } from './variant.ts';

export type {
  HfCounterpart,
  LayerContext,
  LayerMaps,
  MapView,
  PostCombineSteps,
  VariantModule,
} from './variant.ts';

const MODULES = [diff, baseline, diffv2] as const;

/** The name of an attention variant: "diff" (DIFF V1), "baseline", "diffv2" (DIFF V2). */
export type Variant = 'diff' | 'baseline' | 'diffv2';

/** Every variant, in the order the tools list and compare them. */
export const VARIANTS: readonly Variant[] = MODULES.map((m) => m.name);

const BY_NAME = new Map<string, VariantModule>(MODULES.map((m) => [m.name, m]));

/** Whether `name` is a variant of this project. */
export function isVariant(name: unknown): name is Variant {
  return typeof name === 'string' && BY_NAME.has(name);
}

/** The module of a variant (or of a config's variant). */
export function variantModule(of: Variant | { variant: Variant }): VariantModule {
  const name = typeof of === 'string' ? of : of.variant;
  const module = BY_NAME.get(name);
  if (!module)
    throw new RangeError(`unknown variant ${JSON.stringify(name)} (known: ${VARIANTS.join(', ')})`);
  return module;
}

/** The display label of a variant name; an unknown name is shown as it is. */
export function variantLabel(name: string): string {
  return BY_NAME.get(name)?.label ?? name;
}

/**
 * The parameter-matched model of a variant for a baseline config (SPEC §1, §2): same d_model, head
 * width, depth and FFN. DIFF V1 takes half the heads (each has two query/key halves and a 2d-wide
 * value), so its projections are the same size and it adds 6·head_dim parameters per layer (λ
 * vectors and the per-head norm). DIFF V2 keeps the heads and doubles the query heads.
 */
export function matchedConfig(baseline: ModelConfig, variant: Variant): ModelConfig {
  if (baseline.variant !== 'baseline')
    throw new ConfigError(`matchedConfig: expected a baseline config, found variant ${baseline.variant}`);
  return variantModule(variant).matched(baseline);
}
