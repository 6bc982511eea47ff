import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { api } from './api';
import { WebNotificationReceivedDocument, type NotificationViewFragment } from './gql/graphql';
import { Link } from './router';
import { useSession } from './session';

const TOAST_MS = 8000;

interface Live {
  /** Notifications received while the app is open, newest first. */
  received: NotificationViewFragment[];
}

const LiveContext = createContext<Live>({ received: [] });

/** Listens to notificationReceived while signed in and shows each one as a toast. */
export function NotificationsProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const [received, setReceived] = useState<NotificationViewFragment[]>([]);
  const [toasts, setToasts] = useState<NotificationViewFragment[]>([]);

  useEffect(() => {
    setReceived([]);
    if (!user) return;
    return api.subscribe(WebNotificationReceivedDocument, {}, ({ notificationReceived: n }) => {
      setReceived((all) => [n, ...all.filter((x) => x.id !== n.id)]);
      setToasts((all) => [...all, n]);
      setTimeout(() => setToasts((all) => all.filter((x) => x.id !== n.id)), TOAST_MS);
    });
  }, [user]);

  return (
    <LiveContext.Provider value={{ received }}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind.toLowerCase()}`} data-testid="toast">
            <strong>{t.title}</strong>
            <span>{t.body}</span>
            <div className="toast-actions">
              {t.orderId && <Link href={`/orders/${t.orderId}`}>View order</Link>}
              <button
                type="button"
                className="link"
                onClick={() => setToasts((all) => all.filter((x) => x.id !== t.id))}
                aria-label={`Dismiss: ${t.title}`}
              >
                Dismiss
              </button>
            </div>
          </div>
        ))}
      </div>
    </LiveContext.Provider>
  );
}

export function useLiveNotifications(): NotificationViewFragment[] {
  return useContext(LiveContext).received;
}
