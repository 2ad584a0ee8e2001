/**
 * A uPlot line chart of one series, redrawn with the points gathered so far each time `tick` changes.
 * Colours come from the page's CSS variables, so the chart follows light and dark mode.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue } from '../format.js';
import type { SeriesHistory } from '../live.js';

const HEIGHT = 260;

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function makeOptions(label: string, width: number): uPlot.Options {
  const fg = cssVar('--muted', '#666');
  const grid = cssVar('--grid', '#8883');
  const accent = cssVar('--accent', '#2563eb');
  const axis: uPlot.Axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return {
    width,
    height: HEIGHT,
    legend: { show: true },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 70 }],
    series: [{}, { label, stroke: accent, width: 2, fill: `${accent}22`, value: (_u, v) => (v === null ? '-' : formatValue(v)) }],
  };
}

export function LiveChart(props: { label: string; data: SeriesHistory; tick: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dark = useRef(matchMedia('(prefers-color-scheme: dark)'));

  useEffect(() => {
    const el = box.current;
    if (el === null) return undefined;
    let u: uPlot | null = null;
    const create = (): void => {
      u?.destroy();
      u = new uPlot(makeOptions(props.label, Math.max(200, el.clientWidth)), [props.data.times, props.data.values], el);
      plot.current = u;
    };
    create();
    const resize = new ResizeObserver(() => u?.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    const scheme = dark.current;
    scheme.addEventListener('change', create);
    return () => {
      resize.disconnect();
      scheme.removeEventListener('change', create);
      u?.destroy();
      plot.current = null;
    };
    // Recreated only when the series changes; new points arrive through setData below.
  }, [props.label]);

  useEffect(() => {
    plot.current?.setData([props.data.times, props.data.values]);
  }, [props.tick, props.data]);

  return <div ref={box} class="chart" data-testid="chart" data-points={props.data.times.length} />;
}
