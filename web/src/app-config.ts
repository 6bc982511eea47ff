/** Run-time settings from the gateway (GET /app-config.json), read once before the app renders. */
export interface AppConfig {
  paymentProvider: 'simulated' | 'stripe';
  /** Set only with PAYMENT_PROVIDER=stripe and STRIPE_PUBLISHABLE_KEY: then the Payment Element is used. */
  stripePublishableKey: string | null;
}

let loaded: AppConfig = { paymentProvider: 'simulated', stripePublishableKey: null };

export async function loadAppConfig(): Promise<void> {
  try {
    const res = await fetch('/app-config.json');
    if (res.ok) loaded = (await res.json()) as AppConfig;
  } catch {
    // Offline or an older gateway: the simulated defaults.
  }
}

export function appConfig(): AppConfig {
  return loaded;
}
