import { useEffect, useState, type FormEvent } from 'react';
import { api, describeError } from '../api';
import { dateTime, EVENT_STATUS_TEXT, money } from '../format';
import { EventListDocument, type EventCardFragment } from '../gql/public-reads/graphql';
import { Link, navigate } from '../router';

const PAGE_SIZE = 12;

export function EventsPage({ query, adminLinks = false }: { query: string; adminLinks?: boolean }) {
  const [draft, setDraft] = useState(query);
  const [events, setEvents] = useState<EventCardFragment[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const { events: page } = await api.request(EventListDocument, {
        query: query || null,
        first: PAGE_SIZE,
        after,
      });
      setEvents((prev) => [...(after ? prev : []), ...page.edges.map((e) => e.node)]);
      setTotal(page.totalCount);
      setCursor(page.pageInfo.endCursor ?? null);
      setMore(page.pageInfo.hasNextPage);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setDraft(query);
    void load(null); // reloads only when the search changes
  }, [query]);

  const search = (e: FormEvent) => {
    e.preventDefault();
    const q = draft.trim();
    const base = adminLinks ? '/admin' : '/';
    navigate(q ? `${base}?q=${encodeURIComponent(q)}` : base);
  };

  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">{adminLinks ? 'Sales' : 'Upcoming events'}</h1>
      <form role="search" className="search" onSubmit={search}>
        <label htmlFor="search">Search events</label>
        <div className="row">
          <input
            id="search"
            type="search"
            value={draft}
            placeholder="Artist, venue, city…"
            onChange={(e) => setDraft(e.target.value)}
          />
          <button type="submit">Search</button>
        </div>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {total !== null && (
        <p className="muted" aria-live="polite">
          {query ? `${total} result${total === 1 ? '' : 's'} for “${query}”` : `${total} upcoming`}
        </p>
      )}
      <ul className="cards">
        {events.map((e) => (
          <li key={e.id} className="card">
            <Link href={adminLinks ? `/admin/events/${e.id}` : `/events/${e.id}`} className="card-link">
              <h2>{e.title}</h2>
            </Link>
            <p className="muted">
              {e.venue} · {dateTime(e.startsAt)}
            </p>
            <p>
              <span className={`badge badge-${e.status.toLowerCase()}`}>{EVENT_STATUS_TEXT[e.status]}</span>{' '}
              {money(e.price, e.currency)} · {e.ticketsAvailable} of {e.ticketsTotal} left
            </p>
          </li>
        ))}
      </ul>
      {!loading && events.length === 0 && !error && <p>No events found.</p>}
      {more && (
        <button type="button" onClick={() => void load(cursor)} disabled={loading}>
          {loading ? 'Loading…' : 'Show more events'}
        </button>
      )}
    </section>
  );
}
