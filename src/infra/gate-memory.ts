/**
 * The stock gate's wire codes for what it remembers per booking (its Lua scripts in stock-gate.ts
 * read and write them): `R` for a reservation, `X:<reason>` for a rejection, `X:` for one without
 * a reason (its data cannot be stored, or the queue gave up on it), so a copy of the attempt
 * delivered later gets the same answer. Callers say what was decided; only the gate knows the codes.
 */
export type GateMemory = string & { readonly __gateMemory: unique symbol };

export function reservedMemory(): GateMemory {
  return 'R' as GateMemory;
}

export function rejectedMemory(reason: string | null): GateMemory {
  return `X:${reason ?? ''}` as GateMemory;
}
