/** A panel's training charts, from the model folder's metrics.jsonl: loss, and λ per layer. */
import { isVariant, type ModelConfig, variantModule } from 'diff-transformer/browser';
import { layerColor, lineChartSvg, parseMetrics, type Series, trainingCurves } from '../render/chart.ts';
import { el } from './dom.ts';

/** The charts of a metrics.jsonl text (a note when it holds no records); `config` names the λ axis. */
export function trainingCharts(text: string, config: ModelConfig | undefined): HTMLElement {
  const records = parseMetrics(text);
  if (records.length === 0) return el('p', { class: 'muted' }, 'No metrics.jsonl in this folder.');
  const curves = trainingCurves(records);
  const loss: Series[] = [{ label: 'train', color: '#7d8fa9', points: curves.train }];
  if (curves.val.length) loss.push({ label: 'validation', color: '#d1495b', points: curves.val, dots: true });
  const charts = [
    lineChartSvg({
      title: 'Loss',
      series: loss,
      xLabel: 'step',
      yLabel: 'cross-entropy (nats)',
      width: 300,
    }),
  ];
  if (curves.lambda.length) {
    const name = (config && isVariant(config.variant) && variantModule(config).lambdaReadoutName) || 'λ';
    charts.push(
      lineChartSvg({
        title: 'λ per layer',
        series: curves.lambda.map((points, l) => ({ label: `layer ${l}`, color: layerColor(l), points })),
        xLabel: 'step',
        yLabel: name,
        width: 300,
      }),
    );
  }
  const box = el('div', { class: 'charts' });
  box.innerHTML = charts.join('');
  return box;
}
