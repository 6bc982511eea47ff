import { useEffect, useState } from 'react';
import { api, describeError } from '../api';
import { dateTime } from '../format';
import {
  WebMarkNotificationReadDocument,
  WebNotificationsDocument,
  type NotificationViewFragment,
} from '../gql/graphql';
import { useLiveNotifications } from '../notifications';
import { Link } from '../router';

export function InboxPage() {
  const live = useLiveNotifications();
  const [stored, setStored] = useState<NotificationViewFragment[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (after: string | null) => {
    try {
      const { notifications } = await api.request(WebNotificationsDocument, { first: 20, after });
      setStored((prev) => [...(after ? prev : []), ...notifications.edges.map((e) => e.node)]);
      setCursor(notifications.pageInfo.endCursor ?? null);
      setMore(notifications.pageInfo.hasNextPage);
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => void load(null), []);

  // Live arrivals first, then the stored pages, each once (the newest version wins).
  const byId = new Map<string, NotificationViewFragment>();
  for (const n of [...live, ...stored]) if (!byId.has(n.id)) byId.set(n.id, n);
  const all = [...byId.values()];

  const markRead = async (id: string) => {
    try {
      const { markNotificationRead: n } = await api.request(WebMarkNotificationReadDocument, { id });
      setStored((prev) => [n, ...prev.filter((x) => x.id !== n.id)]);
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <section aria-labelledby="inbox-title">
      <h1 id="inbox-title">Notifications</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {all.length === 0 && <p>Nothing yet.</p>}
      <ul className="cards">
        {all.map((n) => (
          <li key={n.id} className={`card ${n.readAt ? 'read' : 'unread'}`} data-testid="notification">
            <h2>{n.title}</h2>
            <p>{n.body}</p>
            <p className="muted">
              {dateTime(n.createdAt)}
              {n.orderId && (
                <>
                  {' · '}
                  <Link href={`/orders/${n.orderId}`}>View order</Link>
                </>
              )}
            </p>
            {!n.readAt && (
              <button type="button" className="secondary" onClick={() => void markRead(n.id)}>
                Mark as read
              </button>
            )}
          </li>
        ))}
      </ul>
      {more && (
        <button type="button" onClick={() => void load(cursor)}>
          Show older
        </button>
      )}
    </section>
  );
}
