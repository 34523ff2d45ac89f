/**
 * A panel's λ box: V1's λ per layer against λ_init, V2's mean sigmoid λ per layer with this head's
 * mean λₜ, or a note that the baseline has no λ.
 */
import { type ModelConfig, variantModule } from 'diff-transformer/browser';
import { lambdaBarsSvg } from '../render/chart.ts';
import { el } from './dom.ts';
import { type HeadView, mean } from './head-view.ts';

/** The box's contents for `layer` and `head` (`lambdas`: the maps' λ per layer, if any). */
export function lambdaBox(
  config: ModelConfig,
  lambdas: number[] | null | undefined,
  view: HeadView,
  layer: number,
  head: number,
): HTMLElement {
  const variant = variantModule(config);
  if (variant.lambdaKind === 'none' || !lambdas)
    return el(
      'p',
      { class: 'muted' },
      `The ${variant.label.toLowerCase()} has no λ: one softmax map per head, no noise cancellation.`,
    );
  const box = el('div', {});
  const lambdaInit = variant.lambdaInit;
  if (variant.lambdaKind === 'layer' && lambdaInit) {
    box.append(el('h4', {}, 'λ per layer (the bar; the tick is λ_init)'));
    box.insertAdjacentHTML(
      'beforeend',
      lambdaBarsSvg(
        lambdas,
        layer,
        lambdas.map((_, l) => lambdaInit(config, l)),
      ),
    );
  } else {
    const t = view.tokenLambda!;
    box.append(el('h4', {}, 'mean sigmoid λ per layer (over tokens and heads)'));
    box.insertAdjacentHTML('beforeend', lambdaBarsSvg(lambdas, layer));
    box.append(
      el(
        'p',
        { class: 'muted' },
        `layer ${layer}, head ${head}: mean λₜ = ${mean(t).toFixed(4)} over ${t.length} tokens`,
      ),
    );
  }
  return box;
}
