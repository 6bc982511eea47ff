import type { ReactNode } from 'react';
import { useLiveNotifications } from './notifications';
import { AdminPage, SalePage } from './pages/admin';
import { EventPage } from './pages/event';
import { EventsPage } from './pages/events';
import { InboxPage } from './pages/inbox';
import { OrderPage } from './pages/order';
import { OrdersPage } from './pages/orders';
import { SignInPage } from './pages/sign-in';
import { Link, match, navigate, useLocation } from './router';
import { useSession } from './session';

export function App() {
  const url = useLocation();
  const { user, ready, signOut } = useSession();
  const unread = useLiveNotifications().filter((n) => !n.readAt).length;
  const path = url.pathname;
  const q = url.searchParams.get('q') ?? '';

  const needUser = (page: ReactNode) => {
    if (!ready) return <p aria-busy="true">Loading…</p>;
    if (!user) {
      return (
        <p>
          <Link href={`/signin?next=${encodeURIComponent(path)}`}>Sign in</Link> to see this page.
        </p>
      );
    }
    return page;
  };

  let page: ReactNode;
  let params: Record<string, string> | null;
  if (match('/', path)) page = <EventsPage query={q} />;
  else if ((params = match('/events/:id', path))) page = <EventPage id={params['id']!} />;
  else if ((params = match('/orders/:id', path))) page = needUser(<OrderPage id={params['id']!} />);
  else if (match('/orders', path)) page = needUser(<OrdersPage />);
  else if (match('/inbox', path)) page = needUser(<InboxPage />);
  else if (match('/signin', path) || match('/signup', path))
    page = (
      <SignInPage
        key={path}
        next={url.searchParams.get('next') ?? '/'}
        mode={path === '/signup' ? 'signup' : 'signin'}
      />
    );
  else if (match('/admin', path)) page = needUser(user?.role === 'ADMIN' ? <AdminPage query={q} /> : <NotAdmin />);
  else if ((params = match('/admin/events/:id', path)))
    page = needUser(user?.role === 'ADMIN' ? <SalePage id={params['id']!} /> : <NotAdmin />);
  else
    page = (
      <p role="alert">
        There is no page here. <Link href="/">See the events</Link>.
      </p>
    );

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Tickets
        </Link>
        <nav aria-label="Main">
          <Link href="/">Events</Link>
          {user && <Link href="/orders">My orders</Link>}
          {user && (
            <Link href="/inbox" aria-label={unread ? `Inbox, ${unread} new` : 'Inbox'}>
              Inbox{unread > 0 && <span className="count">{unread}</span>}
            </Link>
          )}
          {user?.role === 'ADMIN' && <Link href="/admin">Operator</Link>}
          {user ? (
            <button
              type="button"
              className="link"
              onClick={() => {
                signOut();
                navigate('/');
              }}
            >
              Sign out
            </button>
          ) : (
            <Link href={`/signin?next=${encodeURIComponent(path)}`}>Sign in</Link>
          )}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

function NotAdmin() {
  return <p role="alert">The operator page is for administrators.</p>;
}
