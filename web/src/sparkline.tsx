import { count, signed } from './format';
import type { Metrics } from './types';

const WIDTH = 120;
const HEIGHT = 32;

/** Followers over the metrics window, drawn small, with the change in words beside it. */
export function FollowerTrend(props: { metrics: Metrics | null }) {
  const metrics = props.metrics;
  if (!metrics) return null;
  const values = metrics.points
    .map((p) => p.followerCount)
    .filter((v): v is number => typeof v === 'number');
  const change = metrics.change.followerCount;
  if (values.length === 0 || change === null) return null;
  const days = metrics.interval === 'week' ? 'weeks' : '30 days';
  const first = values[0] ?? 0;
  const last = values[values.length - 1] ?? 0;
  const words = `Followers over the last ${days}: ${count(first)} to ${count(last)}`;

  let line: string | null = null;
  if (values.length >= 2) {
    const min = Math.min(...values);
    const max = Math.max(...values);
    const span = max - min || 1;
    line = values
      .map((v, i) => {
        const x = (i / (values.length - 1)) * (WIDTH - 4) + 2;
        const y = max === min ? HEIGHT / 2 : HEIGHT - 3 - ((v - min) / span) * (HEIGHT - 6);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  }
  const direction = change > 0 ? 'up' : change < 0 ? 'down' : 'flat';
  return (
    <div class="trend">
      {line && (
        <svg
          class={`sparkline ${direction}`}
          width={WIDTH}
          height={HEIGHT}
          viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
          role="img"
          aria-label={words}
        >
          <polyline
            points={line}
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linejoin="round"
          />
        </svg>
      )}
      <span class={`change ${direction}`}>
        {change === 0 ? 'No change' : `${signed(change)} followers`} in {days}
      </span>
    </div>
  );
}
