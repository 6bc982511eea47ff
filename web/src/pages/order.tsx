import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, describeError } from '../api';
import { appConfig } from '../app-config';
import { clock, money, ORDER_STATUS_TEXT } from '../format';
import {
  WebCancelOrderDocument,
  WebOrderDocument,
  WebOrderUpdatedDocument,
  WebPaymentCountdownDocument,
  WebPayOrderDocument,
  WebSimulatePaymentDocument,
  type OrderViewFragment,
} from '../gql/graphql';
import { Link } from '../router';
import { StripePayment } from '../stripe-payment';

/** The simulated processor's test cards, the same numbers Stripe uses in test mode. */
export const TEST_CARDS = { succeeds: '4242 4242 4242 4242', declined: '4000 0000 0000 0002' } as const;

const PAYABLE = new Set(['UNPAID', 'FAILED']);

export function OrderPage({ id }: { id: string }) {
  const [order, setOrder] = useState<OrderViewFragment | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setOrder(undefined);
    api
      .request(WebOrderDocument, { id })
      .then((d) => setOrder(d.order))
      .catch((err: unknown) => setError(describeError(err)));
    const stopCountdown = api.subscribe(WebPaymentCountdownDocument, { orderId: id }, ({ paymentCountdown: c }) =>
      setOrder((o) => (o ? { ...o, secondsLeft: c.secondsLeft, status: c.status } : o)),
    );
    const stopUpdates = api.subscribe(WebOrderUpdatedDocument, { id }, ({ orderUpdated }) => setOrder(orderUpdated));
    return () => {
      stopCountdown();
      stopUpdates();
    };
  }, [id]);

  if (error)
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  if (order === undefined) return <p aria-busy="true">Loading…</p>;
  if (order === null) return <p role="alert">This order does not exist.</p>;

  const held = order.status === 'UNPAID' || order.status === 'PAYING' || order.status === 'FAILED';
  const expired = order.status === 'CANCELLED' && order.secondsLeft === 0 && Date.parse(order.expiresAt) <= Date.now();
  return (
    <article aria-labelledby="order-title" className="order">
      <p>
        <Link href={`/events/${order.event.id}`}>← {order.event.title}</Link>
      </p>
      <h1 id="order-title">Your order</h1>
      <p>
        {order.quantity} × {order.event.title} · <strong>{money(order.amount, order.currency)}</strong>
      </p>
      <p data-testid="order-status" aria-live="polite">
        <span className={`badge badge-${order.status.toLowerCase()}`}>{ORDER_STATUS_TEXT[order.status]}</span>
      </p>
      {held && (
        <p className="countdown" data-testid="countdown" role="timer" aria-live="off">
          Your tickets are held for <strong>{clock(order.secondsLeft)}</strong>
        </p>
      )}
      {order.status === 'SUCCEEDED' && (
        <p className="success" role="status" data-testid="payment-result">
          Payment succeeded. Your tickets are booked.
        </p>
      )}
      {order.status === 'CANCELLED' && (
        <p className="error" role="status" data-testid="payment-result">
          {expired
            ? 'The hold expired before payment; the tickets went back on sale.'
            : 'This order was cancelled; the tickets went back on sale.'}
        </p>
      )}
      {order.status === 'FAILED' && (
        <p className="error" role="alert" data-testid="payment-result">
          The card was declined. You can try again while the hold lasts.
        </p>
      )}
      {PAYABLE.has(order.status) && <PaymentForm order={order} onChange={setOrder} />}
      {order.status === 'PAYING' && <p className="muted">Waiting for the payment to be confirmed…</p>}
      {held && <CancelButton order={order} onChange={setOrder} />}
    </article>
  );
}

function PaymentForm({ order, onChange }: { order: OrderViewFragment; onChange: (o: OrderViewFragment) => void }) {
  const [card, setCard] = useState('');
  const [cardError, setCardError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [stripeSecret, setStripeSecret] = useState<string | null>(null);
  const stripeKey = appConfig().stripePublishableKey;
  const cardInput = useRef<HTMLInputElement>(null);

  const pay = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const digits = card.replace(/[\s-]/g, '');
    let outcome: 'SUCCEED' | 'FAIL' | undefined;
    if (!stripeKey) {
      if (digits === TEST_CARDS.succeeds.replaceAll(' ', '')) outcome = 'SUCCEED';
      else if (digits === TEST_CARDS.declined.replaceAll(' ', '')) outcome = 'FAIL';
      else {
        setCardError('Use one of the test card numbers shown below.');
        cardInput.current?.focus();
        return;
      }
    }
    setCardError(null);
    setBusy(true);
    try {
      const { payOrder } = await api.request(WebPayOrderDocument, { orderId: order.id });
      onChange(payOrder.order);
      if (stripeKey) setStripeSecret(payOrder.clientSecret);
      else if (outcome)
        onChange((await api.request(WebSimulatePaymentDocument, { orderId: order.id, outcome })).simulatePayment);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  if (stripeKey && stripeSecret) return <StripePayment publishableKey={stripeKey} clientSecret={stripeSecret} />;
  return (
    <form className="panel pay" onSubmit={(e) => void pay(e)} noValidate>
      <h2>Pay</h2>
      {stripeKey ? (
        <p>You will enter your card in Stripe&apos;s secure form.</p>
      ) : (
        <>
          <label htmlFor="card-number">Card number</label>
          <input
            id="card-number"
            ref={cardInput}
            inputMode="numeric"
            autoComplete="cc-number"
            value={card}
            onChange={(e) => setCard(e.target.value)}
            aria-invalid={cardError !== null}
            aria-describedby="card-help card-error"
            placeholder="4242 4242 4242 4242"
          />
          <p id="card-error" className="error field-error">
            {cardError}
          </p>
          <p id="card-help" className="muted">
            Simulated payments: {TEST_CARDS.succeeds} succeeds, {TEST_CARDS.declined} is declined.
          </p>
        </>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Paying…' : `Pay ${money(order.amount, order.currency)}`}
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

export function CancelButton({
  order,
  onChange,
}: {
  order: OrderViewFragment;
  onChange: (o: OrderViewFragment) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const cancel = async () => {
    if (!window.confirm('Cancel this order and give the tickets back?')) return;
    setBusy(true);
    setError(null);
    try {
      onChange((await api.request(WebCancelOrderDocument, { orderId: order.id })).cancelOrder);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className="secondary" onClick={() => void cancel()} disabled={busy}>
        Cancel order
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </>
  );
}
