// A time series chart (uPlot): one or two lines over a time axis, sized to its box, themed.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { onThemeChange } from '../theme.ts';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
}

/**
 * `range` is the time span asked for (epoch ms): the axis shows all of it even when few samples exist.
 * The value axis starts at 0 and reaches at least `floor` (a flat 0% line is not drawn as ±0%).
 */
export function TimeChart({ title, times, series, format, range, floor = 1 }: { title: string; times: number[]; series: ChartSeries[]; format: (v: number) => string; range: [number, number]; floor?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const axisColor = () => getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#888';
    const make = () =>
      new uPlot(
        {
          width: Math.max(200, el.clientWidth),
          height: 180,
          cursor: { drag: { x: false, y: false } },
          legend: { show: true },
          scales: {
            x: { time: true, range: () => [range[0] / 1000, range[1] / 1000] },
            y: { range: (_u, _min, max) => [0, Math.max(floor, max * 1.1)] },
          },
          axes: [
            { stroke: axisColor(), grid: { stroke: 'rgba(128,128,128,0.15)' } },
            { stroke: axisColor(), grid: { stroke: 'rgba(128,128,128,0.15)' }, values: (_u, vals) => vals.map((v) => format(v)), size: 70 },
          ],
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)) }))],
        },
        [times.map((x) => x / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData,
        el,
      );
    let plot = make();
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    ro.observe(el);
    const off = onThemeChange(() => {
      plot.destroy();
      plot = make();
    });
    return () => {
      ro.disconnect();
      off();
      plot.destroy();
    };
  }, [times, series, format, range, floor]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={title} />
    </figure>
  );
}
