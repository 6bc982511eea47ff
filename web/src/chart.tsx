import type { WebSaleStatsQuery } from './gql/graphql';

type Point = WebSaleStatsQuery['saleStats']['timeline'][number];

const W = 600;
const H = 180;
const PAD = { left: 32, right: 8, top: 8, bottom: 20 };

/** Reservations and payments per second over the timeline, as two lines in one small SVG. */
export function Chart({ points, labelledBy }: { points: Point[]; labelledBy: string }) {
  const max = Math.max(1, ...points.flatMap((p) => [p.reservations, p.payments]));
  const x = (i: number) => PAD.left + (i / Math.max(1, points.length - 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom);
  const line = (pick: (p: Point) => number) =>
    points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ');
  const total = (pick: (p: Point) => number) => points.reduce((s, p) => s + pick(p), 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={labelledBy}>
        <desc>
          {total((p) => p.reservations)} reservations and {total((p) => p.payments)} payments in the last{' '}
          {points.length} seconds; at most {max} in one second.
        </desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text className="axis" x={PAD.left - 4} y={y(max * f) + 4} textAnchor="end">
              {Number.isInteger(max * f) ? max * f : (max * f).toFixed(1)}
            </text>
          </g>
        ))}
        <text className="axis" x={PAD.left} y={H - 4}>
          −{points.length}s
        </text>
        <text className="axis" x={W - PAD.right} y={H - 4} textAnchor="end">
          now
        </text>
        <path className="series-reservations" d={line((p) => p.reservations)} />
        <path className="series-payments" d={line((p) => p.payments)} />
      </svg>
      <figcaption>
        <span className="key key-reservations">Reservations</span> <span className="key key-payments">Payments</span>{' '}
        per second
      </figcaption>
    </figure>
  );
}
