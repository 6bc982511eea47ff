import { useEffect, useState } from 'react';
import { api, describeError } from '../api';
import { dateTime, money, ORDER_STATUS_TEXT } from '../format';
import { WebMyOrdersDocument, type OrderViewFragment } from '../gql/graphql';
import { Link } from '../router';
import { CancelButton } from './order';

const PAGE_SIZE = 20;

export function OrdersPage() {
  const [orders, setOrders] = useState<OrderViewFragment[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (after: string | null) => {
    try {
      const { myOrders } = await api.request(WebMyOrdersDocument, { first: PAGE_SIZE, after });
      setOrders((prev) => [...(after ? prev : []), ...myOrders.edges.map((e) => e.node)]);
      setCursor(myOrders.pageInfo.endCursor ?? null);
      setMore(myOrders.pageInfo.hasNextPage);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => void load(null), []);

  const replace = (o: OrderViewFragment) => setOrders((all) => all.map((x) => (x.id === o.id ? o : x)));
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">My orders</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {loaded && orders.length === 0 && !error && (
        <p>
          No orders yet. <Link href="/">Find an event</Link>.
        </p>
      )}
      <ul className="cards">
        {orders.map((o) => (
          <li key={o.id} className="card" data-testid="order-row">
            <Link href={`/orders/${o.id}`}>
              <h2>{o.event.title}</h2>
            </Link>
            <p>
              {o.quantity} ticket{o.quantity === 1 ? '' : 's'} · {money(o.amount, o.currency)} ·{' '}
              <span className={`badge badge-${o.status.toLowerCase()}`}>{ORDER_STATUS_TEXT[o.status]}</span>
            </p>
            <p className="muted">Ordered {dateTime(o.createdAt)}</p>
            {(o.status === 'UNPAID' || o.status === 'PAYING' || o.status === 'FAILED') && (
              <CancelButton order={o} onChange={replace} />
            )}
          </li>
        ))}
      </ul>
      {more && (
        <button type="button" onClick={() => void load(cursor)}>
          Show more orders
        </button>
      )}
    </section>
  );
}
