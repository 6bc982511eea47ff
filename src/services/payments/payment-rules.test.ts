import { describe, expect, it } from 'vitest';
import type { OrderStatus } from '../../entities/order.entity.js';
import { planPayment } from './payment-rules.js';

const ids = { intentId: 'pi_1', orderId: 'o_1' };
const succeeded = { kind: 'succeeded', ...ids } as const;
const failed = { kind: 'failed', ...ids, reason: null } as const;
const canceled = { kind: 'canceled', ...ids } as const;
const refunded = { kind: 'refunded', ...ids, full: true } as const;
const partlyRefunded = { kind: 'refunded', ...ids, full: false } as const;

const plan = (action: Parameters<typeof planPayment>[0], status: OrderStatus) => planPayment(action, status).kind;

describe('planPayment', () => {
  it('settles a success for an order whose hold runs, whatever came before (out of order included)', () => {
    expect(plan(succeeded, 'PAYING')).toBe('succeed');
    expect(plan(succeeded, 'FAILED')).toBe('succeed');
    expect(plan(succeeded, 'UNPAID')).toBe('succeed');
  });

  it('takes the tickets again (or refunds) when the money arrives for a cancelled order', () => {
    expect(plan(succeeded, 'CANCELLED')).toBe('retake_or_refund');
  });

  it('applies a success once: a settled or refunded order ignores it', () => {
    expect(plan(succeeded, 'SUCCEEDED')).toBe('ignore');
    expect(plan(succeeded, 'REFUNDED')).toBe('ignore');
  });

  it('lets a failure move only a PAYING order, so a late failure never overwrites a success', () => {
    expect(plan(failed, 'PAYING')).toBe('fail');
    for (const status of ['UNPAID', 'FAILED', 'SUCCEEDED', 'CANCELLED', 'REFUNDED'] as const) {
      expect(plan(failed, status)).toBe('ignore');
    }
  });

  it('ends an open order whose intent was cancelled, and ignores the cancellation otherwise', () => {
    for (const status of ['UNPAID', 'PAYING', 'FAILED'] as const) expect(plan(canceled, status)).toBe('cancel');
    for (const status of ['SUCCEEDED', 'CANCELLED', 'REFUNDED'] as const) expect(plan(canceled, status)).toBe('ignore');
  });

  it('marks a full refund once, giving back the tickets only of an order that held them', () => {
    expect(planPayment(refunded, 'SUCCEEDED')).toEqual({ kind: 'refund', releaseTickets: true });
    expect(planPayment(refunded, 'PAYING')).toEqual({ kind: 'refund', releaseTickets: true });
    expect(planPayment(refunded, 'CANCELLED')).toEqual({ kind: 'refund', releaseTickets: false });
    expect(plan(refunded, 'REFUNDED')).toBe('ignore');
  });

  it('changes no order for a partial refund', () => {
    expect(plan(partlyRefunded, 'SUCCEEDED')).toBe('partial_refund');
  });
});
