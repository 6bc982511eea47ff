import { useEffect, useRef, useState, type FormEvent } from 'react';

/**
 * Stripe's Payment Element. Stripe requires Stripe.js to be loaded from js.stripe.com (it may not
 * be bundled), so this path needs the network; the simulated path works offline.
 */
interface StripeJs {
  elements(opts: { clientSecret: string }): {
    create(kind: 'payment'): { mount(el: HTMLElement): void; destroy(): void };
  };
  confirmPayment(opts: {
    elements: unknown;
    redirect: 'if_required';
    confirmParams: { return_url: string };
  }): Promise<{ error?: { message?: string } }>;
}
declare global {
  interface Window {
    Stripe?: (key: string) => StripeJs;
  }
}

let loading: Promise<void> | undefined;
function loadStripeJs(): Promise<void> {
  return (loading ??= new Promise<void>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = 'https://js.stripe.com/v3/';
    script.onload = () => resolve();
    script.onerror = () => {
      loading = undefined;
      reject(new Error('Stripe.js could not be loaded'));
    };
    document.head.appendChild(script);
  }));
}

export function StripePayment({ publishableKey, clientSecret }: { publishableKey: string; clientSecret: string }) {
  const mountPoint = useRef<HTMLDivElement>(null);
  const [stripe, setStripe] = useState<{ js: StripeJs; elements: unknown } | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  useEffect(() => {
    let element: { destroy(): void } | undefined;
    loadStripeJs()
      .then(() => {
        const js = window.Stripe!(publishableKey);
        const elements = js.elements({ clientSecret });
        const payment = elements.create('payment');
        payment.mount(mountPoint.current!);
        element = payment;
        setStripe({ js, elements });
      })
      .catch(() => setMessage('Stripe cannot be reached right now. Check your connection and reload.'));
    return () => element?.destroy();
  }, [publishableKey, clientSecret]);

  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    if (!stripe) return;
    const { error } = await stripe.js.confirmPayment({
      elements: stripe.elements,
      redirect: 'if_required',
      confirmParams: { return_url: location.href },
    });
    // Success arrives as the order's update (the webhook moves it to SUCCEEDED).
    setMessage(error ? (error.message ?? 'The payment failed.') : 'Confirming your payment…');
  };

  return (
    <form className="panel pay" onSubmit={(e) => void confirm(e)}>
      <h2>Pay</h2>
      <div ref={mountPoint} />
      <button type="submit" disabled={!stripe}>
        Pay now
      </button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}
