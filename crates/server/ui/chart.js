// Charts, drawn by uPlot (vendor/uPlot.iife.min.js, MIT; loaded by index.html before this module, re-fetched by
// scripts/vendor-ui.sh). uPlot draws on a canvas and styles its own elements through the CSSOM (el.style), which
// the page's Content-Security-Policy (style-src 'self') allows; its stylesheet is vendor/uPlot.min.css.
//
// Every chart carries its words too: an aria-label that says what it shows in one sentence, a legend in text,
// and a button that shows the same figures as a table (the table is what a screen reader or a test reads).

import { h, mount, table } from './dom.js';

/** The series colours (the legend's swatches use the same ones: .swatch.c0 … .c5 in app.css). */
const COLOURS = ['#0b57d0', '#d56e0c', '#188038', '#a142f4', '#c5221f', '#5f6368'];
const FILLS = ['#0b57d0cc', '#d56e0ccc', '#188038cc', '#a142f4cc', '#c5221fcc', '#5f6368cc'];

/** The y axis's steps when every value is whole: 1, 2, 5, 10, 20, 25, 50, 100, … */
const WHOLE = Array.from({ length: 16 }, (_, e) => [1, 2, 2.5, 5].map((m) => m * 10 ** e)).flat().filter(Number.isInteger);

let serial = 0;

/** A label fit for an axis: long ids are cut, the table has them whole. */
const short = (s, n = 16) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * A bar chart over categories (SKUs, environments, users) or dates: `x` is the category labels (or, with
 * `time`, the dates as YYYY-MM-DD), `series` [{label, values}] drawn side by side; `stacked` draws them one on
 * another (the timeline's kinds). `lines` [{label, value}] are horizontal marks (a pool's size); `levels`
 * [{label, values}] are a level per category (a month's allocation), drawn as a stepped line across each
 * category's slot (categories only, not with `time`). `tick(label)` is a category's text on the axis (default:
 * the label, cut; "\n" breaks a line). `summary` is the aria-label; `tableColumns`/`tableRows` the table
 * alternative. Answers a <figure>.
 */
export function barChart({ id, title, x, series, stacked = false, time = false, lines = [], levels = [], tick, summary, unit = '', tableColumns, tableRows, empty = 'Nothing to draw.' }) {
  const n = ++serial;
  const legendItems = [...series.map((s, i) => [s.label, i]), ...lines.map((l, i) => [l.label, series.length + i]),
    ...levels.map((l, i) => [l.label, series.length + lines.length + i])];
  const plotBox = h('div', { class: 'chart-plot', role: 'img', 'aria-label': summary });
  const tableBox = h('div', { class: 'chart-table', hidden: true, id: `${id}-table` },
    table(tableColumns, tableRows, { empty, caption: title }));
  const toggle = h('button', {
    type: 'button', class: 'small chart-toggle', 'aria-expanded': 'false', 'aria-controls': `${id}-table`,
    onclick: () => {
      const show = tableBox.hidden;
      tableBox.hidden = !show;
      toggle.setAttribute('aria-expanded', String(show));
      toggle.textContent = show ? 'Hide the table' : 'Show as a table';
    },
  }, 'Show as a table');
  const figure = h('figure', { class: 'chart', id, dataset: { chart: id } },
    h('figcaption', {}, h('span', { class: 'chart-title' }, title), toggle),
    x.length ? plotBox : h('p', { class: 'empty' }, empty),
    x.length ? h('ul', { class: 'legend' }, legendItems.map(([label, i]) => h('li', {},
      h('span', { class: `swatch c${i % COLOURS.length}`, 'aria-hidden': 'true' }), label))) : null,
    tableBox);
  if (!x.length) return figure;

  const uPlot = globalThis.uPlot;
  if (!uPlot) {
    mount(plotBox, h('p', { class: 'empty' }, 'The chart library did not load; the table has the figures.'));
    return figure;
  }
  const xs = time ? x.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000) : x.map((_, i) => i);
  // Stacked: each series is drawn as the running total up to it, the last (tallest) first, so each shows.
  let drawn = series.map((s) => s.values.map((v) => Number(v) || 0));
  if (stacked) {
    drawn = drawn.map((_, i) => x.map((__, j) => drawn.slice(0, i + 1).reduce((sum, vs) => sum + vs[j], 0)));
  }
  const order = stacked ? drawn.map((_, i) => i).reverse() : drawn.map((_, i) => i);
  const groups = series.length;
  const bars = (i) => {
    if (stacked || groups === 1) return uPlot.paths.bars({ size: [0.7, 60], align: 0 });
    // Two series side by side: the first left of the category's tick, the second right of it.
    if (groups === 2) return uPlot.paths.bars({ size: [0.4, 30], align: i === 0 ? -1 : 1 });
    return uPlot.paths.bars({ size: [0.7 / (i + 1), 60], align: 0 });
  };
  const top = Math.max(1, ...drawn.flat(), ...lines.map((l) => l.value), ...levels.flatMap((l) => l.values.map((v) => Number(v) || 0)));
  const data = [xs, ...order.map((i) => drawn[i])];
  // Counts (logins, units, MB) are ticked in whole steps: no "0.2" on an axis whose values are all whole.
  const integral = [...drawn.flat(), ...lines.map((l) => l.value), ...levels.flatMap((l) => l.values)].every((v) => Number.isInteger(Number(v)));
  // Horizontal marks (a pool's size) across the whole plot, drawn on the canvas after the bars.
  const marks = (u) => {
    const { ctx } = u;
    lines.forEach((l, k) => {
      const y = u.valToPos(l.value, 'y', true);
      ctx.save();
      ctx.strokeStyle = COLOURS[(series.length + k) % COLOURS.length];
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    });
    // A level per category: a step across each category's slot, joined to the next one's.
    levels.forEach((l, k) => {
      if (time) return;
      ctx.save();
      ctx.strokeStyle = COLOURS[(series.length + lines.length + k) % COLOURS.length];
      ctx.lineWidth = 2.5 * devicePixelRatio;
      ctx.beginPath();
      l.values.forEach((v, j) => {
        const y = u.valToPos(Number(v) || 0, 'y', true);
        const from = u.valToPos(j - 0.45, 'x', true);
        const to = u.valToPos(j + 0.45, 'x', true);
        if (j === 0) ctx.moveTo(from, y);
        else ctx.lineTo(from, y);
        ctx.lineTo(to, y);
      });
      ctx.stroke();
      ctx.restore();
    });
  };
  // Category labels: cut and turned further when the categories are narrow (a phone); labels short enough for
  // their slot stay level.
  const ticks = x.map((l) => (tick ? tick(l) : String(l ?? '')));
  const longest = Math.max(1, ...ticks.map((t) => Math.max(...t.split('\n').map((line) => Math.min(line.length, 20)))));
  const tickLines = Math.max(1, ...ticks.map((t) => t.split('\n').length));
  const crowded = (width) => {
    const per = (width - 80) / Math.max(x.length, 1);
    return time ? 0 : per >= Math.min(150, longest * 7 + 8) ? 0 : per < 60 ? 2 : 1;
  };
  const make = (width, height) => ({
    width,
    height,
    hooks: { draw: [marks] },
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    scales: {
      x: time ? { time: true, range: (u, min, max) => [min - 86400 * 2, max + 86400 * 2] } : { time: false, range: () => [-0.6, x.length - 0.4] },
      y: { range: () => [0, top * 1.08] },
    },
    axes: [
      time ? { stroke: 'currentColor', grid: { show: false } } : {
        stroke: 'currentColor',
        grid: { show: false },
        splits: () => xs,
        values: (u, splits) => splits.map((v) => (tick ? ticks[v] ?? '' : short(x[v] ?? '', crowded(width) === 2 ? 12 : 20))),
        rotate: [0, -35, -60][crowded(width)],
        size: [26 + 14 * tickLines, 100, 90][crowded(width)],
      },
      { stroke: 'currentColor', grid: { stroke: '#8884', width: 1 }, size: 64, incrs: integral ? WHOLE : undefined, values: (u, splits) => splits.map((v) => `${v.toLocaleString('en-US')}${unit}`) },
    ],
    series: [
      {},
      ...order.map((i) => ({ label: series[i].label, fill: FILLS[i % FILLS.length], stroke: COLOURS[i % COLOURS.length], width: 0, paths: bars(i), points: { show: false } })),
    ],
  });
  let plot = null;
  let drawnCrowded = null;
  // Drawn once the figure is in the page and has a width; drawn again at the box's new width after.
  const observer = new ResizeObserver(() => {
    const width = Math.floor(plotBox.clientWidth);
    if (width < 50 || (plot && Math.abs(plot.width - width) <= 2)) return;
    const height = width < 500 ? 220 : 260;
    if (plot && drawnCrowded === crowded(width)) {
      plot.setSize({ width, height });
      return;
    }
    plot?.destroy();
    drawnCrowded = crowded(width);
    plot = new uPlot(make(width, height), data, plotBox);
  });
  observer.observe(plotBox);
  plotBox.dataset.chartSerial = String(n);
  return figure;
}
