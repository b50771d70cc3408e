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

export function TimeChart({ title, times, series, format }: { title: string; times: number[]; series: ChartSeries[]; format: (v: number) => string }) {
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
          scales: { x: { time: true } },
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
  }, [times, series, format]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={title} />
    </figure>
  );
}
