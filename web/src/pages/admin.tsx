import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, describeError } from '../api';
import { Chart } from '../chart';
import { ORDER_STATUS_TEXT } from '../format';
import { WebCreateEventDocument, WebSaleStatsDocument, type WebSaleStatsQuery } from '../gql/graphql';
import { EventPageDocument } from '../gql/public-reads/graphql';
import { Link, navigate } from '../router';
import { EventsPage } from './events';

/** `datetime-local` wants local "YYYY-MM-DDTHH:mm". */
function localInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function AdminPage({ query }: { query: string }) {
  return (
    <>
      <CreateEventForm />
      <EventsPage query={query} adminLinks />
    </>
  );
}

function CreateEventForm() {
  const now = Date.now();
  const [form, setForm] = useState({
    title: '',
    description: '',
    venue: '',
    startsAt: localInput(new Date(now + 7 * 86_400_000)),
    saleStartsAt: localInput(new Date(now)),
    price: '25.00',
    currency: 'USD',
    ticketsTotal: '100',
    maxPerUser: '4',
  });
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFields({});
    setError(null);
    const date = (v: string) => (v ? new Date(v).toISOString() : '');
    setBusy(true);
    try {
      const { createEvent } = await api.request(WebCreateEventDocument, {
        input: {
          title: form.title,
          description: form.description,
          venue: form.venue,
          startsAt: date(form.startsAt),
          saleStartsAt: date(form.saleStartsAt),
          // Typed in major units; the API takes integer minor units.
          price: Math.round(Number(form.price) * 100),
          currency: form.currency,
          ticketsTotal: Number(form.ticketsTotal),
          maxPerUser: Number(form.maxPerUser),
        },
      });
      navigate(`/admin/events/${createEvent.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'BAD_USER_INPUT') {
        setFields(err.fieldErrors());
        setError('Please correct the marked fields.');
      } else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const field = (id: keyof typeof form, label: string, input: (props: object) => ReactNode) => (
    <div className="field">
      <label htmlFor={`ev-${id}`}>{label}</label>
      {input({
        id: `ev-${id}`,
        value: form[id],
        onChange: set(id),
        'aria-invalid': fields[id] !== undefined,
        'aria-describedby': fields[id] ? `ev-${id}-error` : undefined,
      })}
      {fields[id] && (
        <p className="error field-error" id={`ev-${id}-error`} data-testid={`error-${id}`}>
          {fields[id]}
        </p>
      )}
    </div>
  );

  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">Create an event</h1>
      <form className="panel grid" onSubmit={(e) => void submit(e)} noValidate>
        {field('title', 'Title', (p) => (
          <input {...p} />
        ))}
        {field('venue', 'Venue', (p) => (
          <input {...p} />
        ))}
        {field('description', 'Description', (p) => (
          <textarea rows={3} {...p} />
        ))}
        {field('startsAt', 'Starts at', (p) => (
          <input type="datetime-local" {...p} />
        ))}
        {field('saleStartsAt', 'Sale starts at', (p) => (
          <input type="datetime-local" {...p} />
        ))}
        {field('price', 'Price', (p) => (
          <input inputMode="decimal" {...p} />
        ))}
        {field('currency', 'Currency', (p) => (
          <input maxLength={3} {...p} />
        ))}
        {field('ticketsTotal', 'Tickets', (p) => (
          <input type="number" min={1} {...p} />
        ))}
        {field('maxPerUser', 'Most per buyer', (p) => (
          <input type="number" min={1} {...p} />
        ))}
        <div className="actions">
          <button type="submit" disabled={busy}>
            Create event
          </button>
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
        </div>
      </form>
    </section>
  );
}

type Stats = WebSaleStatsQuery['saleStats'];
const POLL_MS = 1000;

export function SalePage({ id }: { id: string }) {
  const [title, setTitle] = useState<string>('');
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api
      .request(EventPageDocument, { id })
      .then((d) => setTitle(d.event?.title ?? 'Unknown event'))
      .catch(() => undefined);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const { saleStats } = await api.request(WebSaleStatsDocument, { eventId: id });
        if (!stopped) {
          setStats(saleStats);
          setError(null);
        }
      } catch (err) {
        if (!stopped) setError(describeError(err));
      }
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [id]);

  const sold = stats ? stats.ticketsTotal - stats.ticketsLeft : 0;
  return (
    <section aria-labelledby="sale-title">
      <p>
        <Link href="/admin">← Operator page</Link> · <Link href={`/events/${id}`}>Buyer&apos;s view</Link>
      </p>
      <h1 id="sale-title">Sale: {title}</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {stats && (
        <>
          <dl className="stats" aria-live="polite">
            <div>
              <dt>Tickets left</dt>
              <dd data-testid="stat-tickets-left">
                {stats.ticketsLeft} <span className="muted">of {stats.ticketsTotal}</span>
              </dd>
            </div>
            <div>
              <dt>Reservations / s</dt>
              <dd data-testid="stat-reservations">{stats.reservationsPerSecond.toFixed(1)}</dd>
            </div>
            <div>
              <dt>Payments / s</dt>
              <dd data-testid="stat-payments">{stats.paymentsPerSecond.toFixed(1)}</dd>
            </div>
            <div>
              <dt>In the queue</dt>
              <dd data-testid="stat-queue">{stats.queueLength}</dd>
            </div>
            <div>
              <dt>Taken (held or paid)</dt>
              <dd>{sold}</dd>
            </div>
          </dl>
          <h2>Orders by status</h2>
          <table className="by-status">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Orders</th>
              </tr>
            </thead>
            <tbody>
              {stats.ordersByStatus.map((s) => (
                <tr key={s.status} data-testid={`status-${s.status}`}>
                  <th scope="row">{ORDER_STATUS_TEXT[s.status]}</th>
                  <td>{s.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2 id="chart-title">The last minute</h2>
          <Chart points={stats.timeline} labelledBy="chart-title" />
        </>
      )}
    </section>
  );
}
