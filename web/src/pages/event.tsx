import { useEffect, useState, type FormEvent } from 'react';
import { api, describeError } from '../api';
import { dateTime, EVENT_STATUS_TEXT, money, REJECTION_TEXT } from '../format';
import { WebBookingUpdatedDocument, WebBookTicketDocument, WebStockChangedDocument } from '../gql/graphql';
import { EventPageDocument, type EventPageQuery } from '../gql/public-reads/graphql';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import { WaitingRoomPanel } from './waiting-room';

export type EventDetail = NonNullable<EventPageQuery['event']>;

export function EventPage({ id }: { id: string }) {
  const [event, setEvent] = useState<EventDetail | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setEvent(undefined);
    api
      .request(EventPageDocument, { id })
      .then((d) => setEvent(d.event))
      .catch((err: unknown) => setError(describeError(err)));
    // The count and status live: the current ones first, then every change.
    return api.subscribe(WebStockChangedDocument, { eventId: id }, ({ stockChanged: s }) =>
      setEvent((e) => (e ? { ...e, ticketsAvailable: s.ticketsAvailable, status: s.status } : e)),
    );
  }, [id]);

  if (error)
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  if (event === undefined) return <p aria-busy="true">Loading…</p>;
  if (event === null) return <p role="alert">This event does not exist.</p>;

  return (
    <article aria-labelledby="event-title" className="event">
      <p>
        <Link href="/">← All events</Link>
      </p>
      <h1 id="event-title">{event.title}</h1>
      <p className="muted">
        {event.venue} · {dateTime(event.startsAt)}
      </p>
      <p>{event.description}</p>
      <dl className="facts">
        <div>
          <dt>Price</dt>
          <dd>{money(event.price, event.currency)}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd data-testid="event-status">
            <span className={`badge badge-${event.status.toLowerCase()}`}>{EVENT_STATUS_TEXT[event.status]}</span>
          </dd>
        </div>
        <div>
          <dt>Tickets left</dt>
          <dd data-testid="tickets-left" aria-live="polite">
            {event.ticketsAvailable} <span className="muted">of {event.ticketsTotal}</span>
          </dd>
        </div>
        <div>
          <dt>Sale opens</dt>
          <dd>{dateTime(event.saleStartsAt)}</dd>
        </div>
      </dl>
      {event.waitingRoom ? (
        <WaitingRoomPanel event={event}>
          {/* An admission means the sale is open, even if this page loaded before it was. */}
          {(admissionToken) => (
            <BookingPanel
              event={event.status === 'SCHEDULED' ? { ...event, status: 'ON_SALE' } : event}
              admissionToken={admissionToken}
            />
          )}
        </WaitingRoomPanel>
      ) : (
        <BookingPanel event={event} />
      )}
    </article>
  );
}

type Outcome = { kind: 'queued' } | { kind: 'rejected'; reason: string } | { kind: 'error'; message: string };

function BookingPanel({ event, admissionToken }: { event: EventDetail; admissionToken?: string }) {
  const { user } = useSession();
  const [quantity, setQuantity] = useState(1);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  // A booking left QUEUED is decided later; wait for that decision on bookingUpdated.
  const [queuedId, setQueuedId] = useState<string | null>(null);
  useEffect(() => {
    if (!queuedId) return;
    return api.subscribe(WebBookingUpdatedDocument, { id: queuedId }, ({ bookingUpdated: b }) => {
      if (b.status === 'RESERVED' && b.order) navigate(`/orders/${b.order.id}`);
      else if (b.status === 'REJECTED') setOutcome({ kind: 'rejected', reason: b.reason ?? 'SOLD_OUT' });
    });
  }, [queuedId]);

  if (!user)
    return (
      <section className="panel" aria-labelledby="book-title">
        <h2 id="book-title">Book tickets</h2>
        <p>
          <Link href={`/signin?next=/events/${event.id}`}>Sign in or create an account</Link> to book.
        </p>
      </section>
    );

  const book = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setOutcome(null);
    try {
      const { bookTicket: b } = await api.request(WebBookTicketDocument, {
        eventId: event.id,
        quantity,
        idempotencyKey: crypto.randomUUID(),
        admissionToken: admissionToken ?? null,
      });
      switch (b.status) {
        case 'RESERVED':
          navigate(`/orders/${b.order!.id}`);
          return;
        case 'REJECTED':
          setOutcome({ kind: 'rejected', reason: b.reason ?? 'SOLD_OUT' });
          break;
        case 'QUEUED':
          setOutcome({ kind: 'queued' });
          setQueuedId(b.id);
          break;
      }
    } catch (err) {
      setOutcome({ kind: 'error', message: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  const soldOut = event.status === 'SOLD_OUT' || event.ticketsAvailable === 0;
  // A booking in flight or in the queue may still get one of the last tickets: the buyer keeps
  // seeing it being decided, not the sold-out notice, until its answer comes.
  const deciding = busy || outcome?.kind === 'queued';
  const max = Math.max(1, Math.min(event.maxPerUser, event.ticketsAvailable || event.maxPerUser));
  return (
    <section className="panel" aria-labelledby="book-title">
      <h2 id="book-title">Book tickets</h2>
      {soldOut && !deciding ? (
        <p className="sold-out" role="status" data-testid="sold-out">
          Sold out. Tickets that are not paid for in time come back here.
        </p>
      ) : (
        <form onSubmit={(e) => void book(e)} className="row">
          <label htmlFor="quantity">Quantity</label>
          <select id="quantity" value={quantity} onChange={(e) => setQuantity(Number(e.target.value))}>
            {Array.from({ length: max }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <button type="submit" disabled={deciding || event.status !== 'ON_SALE'}>
            {busy ? 'Booking…' : `Book for ${money(event.price * quantity, event.currency)}`}
          </button>
        </form>
      )}
      {event.status === 'SCHEDULED' && <p className="muted">Booking opens at {dateTime(event.saleStartsAt)}.</p>}
      <div role="status" aria-live="polite" data-testid="booking-outcome">
        {outcome?.kind === 'queued' && <p>You are in the queue; your booking is being decided…</p>}
        {outcome?.kind === 'rejected' && <p className="error">{REJECTION_TEXT[outcome.reason] ?? outcome.reason}</p>}
        {outcome?.kind === 'error' && <p className="error">{outcome.message}</p>}
      </div>
    </section>
  );
}
