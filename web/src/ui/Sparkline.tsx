// A sparkline as one SVG path: a hundred of them on the dashboard cost nothing to draw (the resource
// graphs with axes use uPlot).
export function Sparkline({ values, max, label, width = 96, height = 24 }: { values: number[]; max?: number; label: string; width?: number; height?: number }) {
  const top = Math.max(max ?? 0, ...values, 1e-9);
  const n = values.length;
  const d = n < 2 ? '' : values.map((v, i) => `${i ? 'L' : 'M'}${((i / (n - 1)) * width).toFixed(1)},${(height - (Math.max(0, v) / top) * (height - 2) - 1).toFixed(1)}`).join('');
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      {d ? <path d={d} fill="none" stroke="currentColor" strokeWidth="1.5" /> : <line x1="0" y1={height - 1} x2={width} y2={height - 1} stroke="currentColor" strokeOpacity="0.3" />}
    </svg>
  );
}
