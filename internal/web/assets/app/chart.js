// A live line chart in plain SVG: a window of recent samples per series,
// redrawn on each push. The chart is an image with a text label giving
// the latest values, and a legend, for people who cannot see the lines.
import { h, svg, replace, fmt } from './dom.js';

export const palette = ['#1d4ed8', '#b91c1c', '#047857', '#7c3aed', '#b45309', '#0e7490'];

export class LineChart {
  // title names the chart; unit follows values ("/s"); points is the window.
  constructor(title, unit = '', points = 120) {
    this.title = title;
    this.unit = unit;
    this.points = points;
    this.series = new Map(); // name -> number[]
    this.plot = h('div', { role: 'img', 'aria-label': title });
    this.legend = h('div', { class: 'legend' });
    this.el = h('section', { class: 'panel chart' }, h('h2', {}, title), this.plot, this.legend);
  }

  // push adds one sample per named series (missing series get 0).
  push(values) {
    for (const name of Object.keys(values)) {
      if (!this.series.has(name)) this.series.set(name, []);
    }
    for (const [name, arr] of this.series) {
      arr.push(values[name] ?? 0);
      if (arr.length > this.points) arr.shift();
    }
    this.draw();
  }

  draw() {
    const W = 600, H = 180, L = 44, B = 18, T = 8;
    let max = 1;
    for (const arr of this.series.values()) for (const v of arr) max = Math.max(max, v);
    max = niceCeil(max);
    const x = (i) => L + (i / (this.points - 1)) * (W - L - 4);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, 'aria-hidden': 'true', focusable: 'false' });
    for (const f of [0, 0.5, 1]) {
      root.append(svg('line', { x1: L, x2: W, y1: y(max * f), y2: y(max * f), stroke: '#e5e7eb', 'stroke-width': 1 }));
      root.append(svg('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#4b5563' }, fmt(max * f)));
    }
    root.append(svg('text', { x: W - 2, y: H - 4, 'text-anchor': 'end', 'font-size': 11, fill: '#4b5563' }, 'now'));
    root.append(svg('text', { x: L, y: H - 4, 'font-size': 11, fill: '#4b5563' }, `${this.points} s ago`));
    let i = 0;
    const legend = [];
    const said = [];
    for (const [name, arr] of this.series) {
      const color = palette[i++ % palette.length];
      const off = this.points - arr.length;
      const d = arr.map((v, j) => `${j ? 'L' : 'M'}${x(off + j).toFixed(1)},${y(v).toFixed(1)}`).join('');
      if (d) root.append(svg('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
      const last = arr.length ? arr[arr.length - 1] : 0;
      legend.push(h('span', { style: `--c:${color}` }, `${name}: ${fmt(last)}${this.unit}`));
      said.push(`${name} ${fmt(last)}${this.unit}`);
    }
    replace(this.plot, root);
    this.plot.setAttribute('aria-label', `${this.title}, now: ${said.join(', ') || 'no data yet'}`);
    replace(this.legend, legend);
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
