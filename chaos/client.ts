import type { Call, History } from './history.js';

/** GraphQL over HTTP as a buyer's app sends it, each call recorded in the history. */
export interface Answer {
  outcome: Call['outcome'];
  code?: string;
  data?: Record<string, unknown>;
}

const TIMEOUT_MS = 8000;

export async function graphql(
  origin: string,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<Answer> {
  try {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let body: { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: string } }[] };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return { outcome: 'unknown', code: `HTTP ${res.status}` };
    }
    if (body.errors?.length) return { outcome: 'fail', code: body.errors[0]?.extensions?.code ?? 'NO_CODE' };
    if (!body.data) return { outcome: 'unknown', code: `HTTP ${res.status} without data` };
    return { outcome: 'ok', data: body.data };
  } catch (err) {
    // fetch reports a refused or reset connection as a TypeError whose cause has the socket's code.
    const cause = err instanceof Error ? (err.cause as { code?: string } | undefined) : undefined;
    return { outcome: 'unknown', code: cause?.code ?? (err instanceof Error ? err.name : 'network error') };
  }
}

export const BOOK = `mutation Book($e: ID!, $q: Int!, $k: String!) {
  bookTicket(eventId: $e, quantity: $q, idempotencyKey: $k) { id status reason order { id } } }`;
export const PAY = `mutation Pay($o: ID!) { payOrder(orderId: $o) { order { status } } }`;
export const SIMULATE = `mutation Sim($o: ID!, $r: PaymentOutcome!) { simulatePayment(orderId: $o, outcome: $r) { status } }`;
export const CANCEL = `mutation Cancel($o: ID!) { cancelOrder(orderId: $o) { status } }`;

/** Sends one call and appends it to the history. */
export async function recorded(
  history: History,
  call: Pick<Call, 'buyer' | 'op' | 'subject' | 'gateway'>,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<{ entry: Call; answer: Answer }> {
  const invokedAt = Date.now();
  const answer = await graphql(call.gateway, token, query, variables);
  const entry: Call = { ...call, invokedAt, answeredAt: Date.now(), outcome: answer.outcome };
  if (answer.code) entry.code = answer.code;
  const field = answer.data?.[call.op] as Record<string, unknown> | undefined;
  if (call.op === 'bookTicket' && field) {
    const order = field['order'] as { id: string } | null;
    entry.booking = {
      id: String(field['id']),
      status: String(field['status']),
      reason: (field['reason'] as string | null) ?? null,
      orderId: order?.id ?? null,
    };
  } else if (field) {
    const status = call.op === 'payOrder' ? (field['order'] as { status: string }).status : field['status'];
    entry.orderStatus = String(status);
  }
  history.calls.push(entry);
  return { entry, answer };
}
