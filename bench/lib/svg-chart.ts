/** Hand-written SVG line charts: no dependency, small output, readable diff in git. */

export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  yLog: boolean;
  series: Series[];
}

const W = 460;
const H = 300;
const M = { left: 70, right: 20, top: 34, bottom: 46 };

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function short(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  return `${+value.toPrecision(3)}`;
}

interface Scale {
  at: (v: number) => number;
  ticks: number[];
}

function scale(values: number[], log: boolean, from: number, to: number): Scale {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (log) {
    lo = 10 ** Math.floor(Math.log10(Math.max(lo, 1e-9)));
    hi = 10 ** Math.ceil(Math.log10(Math.max(hi, lo * 10)));
    const ticks: number[] = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
    const span = Math.log10(hi) - Math.log10(lo);
    return { at: (v) => from + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * (to - from), ticks };
  }
  lo = Math.min(0, lo);
  if (hi <= lo) hi = lo + 1;
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4));
  const nice = [1, 2, 5, 10].map((k) => k * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  hi = Math.ceil(hi / nice) * nice;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + nice / 2; t += nice) ticks.push(t);
  return { at: (v) => from + ((v - lo) / (hi - lo)) * (to - from), ticks };
}

function panel(p: Panel, ox: number, oy: number): string {
  const points = p.series.flatMap((s) => s.points);
  if (points.length === 0) return '';
  const x = scale(
    points.map((q) => q.x),
    p.xLog,
    ox + M.left,
    ox + W - M.right,
  );
  const y = scale(
    points.map((q) => q.y),
    p.yLog,
    oy + H - M.bottom,
    oy + M.top,
  );
  const out: string[] = [];
  out.push(
    `<text x="${ox + W / 2}" y="${oy + 20}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
  );
  for (const t of y.ticks) {
    const py = y.at(t).toFixed(1);
    out.push(`<line x1="${ox + M.left}" x2="${ox + W - M.right}" y1="${py}" y2="${py}" stroke="#ddd"/>`);
    out.push(`<text x="${ox + M.left - 6}" y="${py}" dy="4" text-anchor="end">${short(t)}</text>`);
  }
  for (const t of x.ticks) {
    const px = x.at(t).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${oy + M.top}" y2="${oy + H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px}" y="${oy + H - M.bottom + 16}" text-anchor="middle">${short(t)}</text>`);
  }
  out.push(
    `<text x="${ox + (M.left + W - M.right) / 2}" y="${oy + H - 8}" text-anchor="middle">${esc(p.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(${ox + 16} ${oy + (M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`,
  );
  for (const s of p.series) {
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    const path = sorted.map((q) => `${x.at(q.x).toFixed(1)},${y.at(q.y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const q of sorted) {
      out.push(
        `<circle cx="${x.at(q.x).toFixed(1)}" cy="${y.at(q.y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${short(q.y)} at ${q.x}</title></circle>`,
      );
    }
  }
  return out.join('\n');
}

/** Panels laid out in rows of `columns`, with one legend for every series name. */
export function renderSvg(
  title: string,
  panels: Panel[],
  columns: number,
  legend: Map<string, string>,
): string {
  const rows = Math.ceil(panels.length / columns);
  const legendH = 28;
  const width = W * columns;
  const height = 36 + legendH + H * rows;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  let lx = 20;
  for (const [name, color] of legend) {
    out.push(`<rect x="${lx}" y="40" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="50">${esc(name)}</text>`);
    lx += 30 + name.length * 7;
  }
  panels.forEach((p, i) => {
    out.push(panel(p, (i % columns) * W, 36 + legendH + Math.floor(i / columns) * H));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
