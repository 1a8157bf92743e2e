/**
 * Minimal SVG charts for the benchmark's report: a line chart (logarithmic x axis, linear or
 * logarithmic y axis, an optional horizontal target line) and a grouped bar chart. Plain strings,
 * no library: the output depends on the input only (fixed number formats, no dates, no random
 * ids), so the same results render to the same bytes and npm test can compare them.
 */

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  /** [x, y] of the line, in data units, x ascending. */
  points: Array<[number, number]>;
  /** Single observations drawn as faint dots (e.g. each round). */
  dots?: Array<[number, number]>;
}

export interface Axis {
  label: string;
  log: boolean;
  min: number;
  max: number;
  ticks: number[];
}

export interface LineChart {
  title: string;
  subtitle: string;
  x: Axis;
  y: Axis;
  series: Series[];
  /** A horizontal target line. */
  target?: { y: number; label: string };
}

export interface BarPanel {
  title: string;
  unit: string;
  /** Groups along x (e.g. layouts), each with one value per bar name (NaN: not measured). */
  groups: Array<{ name: string; values: number[] }>;
}

export interface BarChart {
  title: string;
  subtitle: string;
  bars: Array<{ name: string; color: string }>;
  panels: BarPanel[];
  /** Shown across the chart when nothing at all was measured. */
  empty?: string;
}

const W = 900;
const H = 470;
const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A coordinate with one decimal, without "-0.0". */
const n = (v: number): string => {
  const s = v.toFixed(1);
  return s === '-0.0' ? '0.0' : s;
};

/** A tick label: 25, 1k, 1.4k, 0.5. */
export function tickLabel(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toFixed(1))}k`;
  return `${Number(v.toFixed(2))}`;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${esc(s)}</text>`;
}

function header(title: string, subtitle: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    text(W / 2, 24, title, 'text-anchor="middle" font-size="16" font-weight="bold"'),
    text(W / 2, 43, subtitle, 'text-anchor="middle" fill="#555555"'),
  ];
}

export function lineChart(c: LineChart): string {
  const left = 70;
  const right = W - 250;
  const top = 60;
  const bottom = H - 60;
  const scale = (a: Axis, v: number, lo: number, hi: number): number => {
    const t = a.log ? (Math.log(v) - Math.log(a.min)) / (Math.log(a.max) - Math.log(a.min)) : (v - a.min) / (a.max - a.min);
    return lo + Math.min(1, Math.max(0, t)) * (hi - lo);
  };
  const X = (v: number): number => scale(c.x, v, left, right);
  const Y = (v: number): number => scale(c.y, v, bottom, top);
  const out = header(c.title, c.subtitle);
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#999999"/>`);
  let lastLabel = Number.NEGATIVE_INFINITY;
  for (const t of c.x.ticks) {
    out.push(`<line x1="${n(X(t))}" y1="${top}" x2="${n(X(t))}" y2="${bottom}" stroke="#eeeeee"/>`);
    // A label too close to the previous one is left out (its grid line stays).
    if (X(t) - lastLabel < 30) continue;
    out.push(text(X(t), bottom + 16, tickLabel(t), 'text-anchor="middle"'));
    lastLabel = X(t);
  }
  for (const t of c.y.ticks) {
    out.push(`<line x1="${left}" y1="${n(Y(t))}" x2="${right}" y2="${n(Y(t))}" stroke="#eeeeee"/>`);
    out.push(text(left - 6, Y(t) + 4, tickLabel(t), 'text-anchor="end"'));
  }
  out.push(text((left + right) / 2, H - 22, c.x.label, 'text-anchor="middle"'));
  out.push(text(18, (top + bottom) / 2, c.y.label, `text-anchor="middle" transform="rotate(-90 18 ${n((top + bottom) / 2)})"`));
  if (c.target) {
    out.push(`<line x1="${left}" y1="${n(Y(c.target.y))}" x2="${right}" y2="${n(Y(c.target.y))}" stroke="#000000" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(text(left + 6, Y(c.target.y) - 5, c.target.label, 'font-weight="bold"'));
  }
  for (const s of c.series) {
    for (const [x, y] of s.dots ?? []) out.push(`<circle cx="${n(X(x))}" cy="${n(Y(y))}" r="2" fill="${s.color}" fill-opacity="0.35"/>`);
    if (s.points.length > 0) {
      const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${n(X(x))} ${n(Y(y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
      for (const [x, y] of s.points) out.push(`<circle cx="${n(X(x))}" cy="${n(Y(y))}" r="3" fill="${s.color}"/>`);
    }
  }
  // Legend, right of the plot.
  c.series.forEach((s, i) => {
    const y = top + 10 + i * 22;
    out.push(`<line x1="${right + 16}" y1="${y}" x2="${right + 40}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(text(right + 46, y + 4, s.points.length > 0 ? s.name : `${s.name} (no data)`));
  });
  out.push('</svg>', '');
  return out.join('\n');
}

export function barChart(c: BarChart): string {
  const out = header(c.title, c.subtitle);
  const top = 110;
  const bottom = H - 70;
  c.bars.forEach((b, i) => {
    const x = 40 + i * ((W - 80) / c.bars.length);
    out.push(`<rect x="${n(x)}" y="56" width="14" height="14" fill="${b.color}"/>`);
    out.push(text(x + 20, 67, b.name));
  });
  if (c.empty !== undefined) {
    out.push(`<rect x="40" y="${top}" width="${W - 80}" height="${bottom - top}" fill="#f6f6f6" stroke="#999999" stroke-dasharray="6 4"/>`);
    out.push(text(W / 2, (top + bottom) / 2, c.empty, 'text-anchor="middle" font-size="15" fill="#555555"'));
    out.push('</svg>', '');
    return out.join('\n');
  }
  const gap = 60;
  const panelW = (W - 40 - gap * (c.panels.length - 1) - 40) / c.panels.length;
  c.panels.forEach((p, pi) => {
    const left = 40 + pi * (panelW + gap) + 30;
    const right = left + panelW - 30;
    const values = p.groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
    const ticks = niceTicks(values.length > 0 ? Math.max(...values) : 1);
    const max = ticks[ticks.length - 1]!;
    const Y = (v: number): number => bottom - (v / max) * (bottom - top);
    out.push(text((left + right) / 2, top - 8, `${p.title} (${p.unit})`, 'text-anchor="middle" font-weight="bold"'));
    for (const v of ticks) {
      out.push(`<line x1="${n(left)}" y1="${n(Y(v))}" x2="${n(right)}" y2="${n(Y(v))}" stroke="#eeeeee"/>`);
      out.push(text(left - 5, Y(v) + 4, tickLabel(v), 'text-anchor="end"'));
    }
    out.push(`<line x1="${n(left)}" y1="${bottom}" x2="${n(right)}" y2="${bottom}" stroke="#999999"/>`);
    const groupW = (right - left) / p.groups.length;
    p.groups.forEach((g, gi) => {
      const g0 = left + gi * groupW + groupW * 0.1;
      const barW = (groupW * 0.8) / c.bars.length;
      g.values.forEach((v, bi) => {
        const x = g0 + bi * barW;
        if (Number.isFinite(v)) {
          out.push(`<rect class="bar" x="${n(x + 2)}" y="${n(Y(v))}" width="${n(barW - 4)}" height="${n(bottom - Y(v))}" fill="${c.bars[bi]!.color}"/>`);
          out.push(text(x + barW / 2, Y(v) - 4, v >= 100 ? v.toFixed(0) : `${Number(v.toPrecision(3))}`, 'text-anchor="middle" font-size="10"'));
        } else {
          out.push(text(x + barW / 2, bottom - 6, 'n/m', 'text-anchor="middle" font-size="10" fill="#888888"'));
        }
      });
      out.push(text(left + gi * groupW + groupW / 2, bottom + 18, g.name, 'text-anchor="middle"'));
    });
  });
  out.push(text(W / 2, H - 20, 'n/m: not measured in this run', 'text-anchor="middle" fill="#888888" font-size="11"'));
  out.push('</svg>', '');
  return out.join('\n');
}

/** Axis ticks from 0: a step of 1, 2 or 5 times a power of ten, at most 5 steps, the last at least `v`. */
export function niceTicks(v: number): number[] {
  const raw = v > 0 ? v / 4 : 0.25;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw)!;
  const count = Math.max(1, Math.ceil(v / step - 1e-9));
  return Array.from({ length: count + 1 }, (_, k) => Number((k * step).toPrecision(12)));
}
