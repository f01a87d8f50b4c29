import type { Sample } from '../live-view.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 900;
const HEIGHT = 160;
/** The chart spans 15 minutes of one-second samples. */
const SPAN_MS = 15 * 60_000;

/**
 * Messages/s and deliveries/s over the last 15 minutes: two SVG polylines, rescaled to the largest
 * value shown. About 60 lines instead of a chart library's tens of kilobytes.
 */
export class Chart {
  readonly element: SVGSVGElement;
  readonly #lines: Record<'messages' | 'deliveries', SVGPolylineElement>;
  readonly #max: SVGTextElement;

  constructor() {
    this.element = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', id: 'chart' });
    this.element.setAttribute('preserveAspectRatio', 'none');
    this.#lines = {
      deliveries: svg('polyline', { class: 'line deliveries', points: '' }),
      messages: svg('polyline', { class: 'line messages', points: '' }),
    };
    this.#max = svg('text', { x: '4', y: '14', class: 'axis' });
    this.element.append(this.#lines.deliveries, this.#lines.messages, this.#max);
  }

  draw(series: readonly Sample[]): void {
    const end = series.length > 0 ? series[series.length - 1]!.t : Date.now();
    let max = 1;
    for (const sample of series) max = Math.max(max, sample.messages, sample.deliveries);
    max = niceCeiling(max);
    for (const key of ['messages', 'deliveries'] as const) {
      const points = series.map((sample) => {
        const x = WIDTH - ((end - sample.t) / SPAN_MS) * WIDTH;
        const y = HEIGHT - (sample[key] / max) * (HEIGHT - 20);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      this.#lines[key].setAttribute('points', points.join(' '));
    }
    this.#max.textContent = `${max}/s`;
  }
}

function niceCeiling(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 5, 10]) if (value <= factor * step) return factor * step;
  return value;
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string>,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}
