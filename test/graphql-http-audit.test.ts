import { auditServer, type AuditResult } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.js';

/**
 * The GraphQL over HTTP spec's conformance audit (graphql-http's `auditServer`) against /graphql.
 * Every MUST passes; every SHOULD and MAY passes except the ones below, which this server does
 * not follow on purpose.
 */
const NOT_FOLLOWED: Record<string, string> = {
  // Apollo's CSRF prevention refuses a GET without a preflight header (`apollo-require-preflight`
  // or `x-apollo-operation-name`) or a non-simple content-type; the audit's GETs carry neither.
  // GET queries with variables work when they carry one (test/graphql-media-types.test.ts).
  '5A70': 'MAY accept application/x-www-form-urlencoded formatted GET requests',
  D6D5: 'MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json',
  '6A70': 'MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json',
  // Apollo Server 5 answers 400 to a request that never ran (the document does not parse or
  // validate, the variables do not coerce) whatever the media type, and the fast path answers as
  // Apollo does. The spec asks for 200 with application/json only so that legacy clients that
  // treat any non-2xx as a transport failure still read the errors; a 400 tells every client the
  // operation did not run, and the spec's own application/graphql-response+json is 400 as well.
  '572B': 'SHOULD use 200 status code on document parsing failure when accepting application/json',
  FDE2: 'SHOULD use 200 status code on document validation failure when accepting application/json',
  '7B9B': 'SHOULD use a status code of 200 on variable coercion failure when accepting application/json',
};

let sys: TestSystem;
let results: AuditResult[];

beforeAll(async () => {
  sys = await startTestSystem();
  results = await auditServer({ url: sys.url });
});
afterAll(async () => {
  await sys.stop();
});

const failing = (level: 'MUST' | 'SHOULD' | 'MAY') =>
  results
    .filter((r) => r.name.startsWith(`${level} `) && r.status !== 'ok')
    .map((r) => ({ id: r.id, name: r.name, reason: r.status === 'ok' ? '' : r.reason }));

describe('the GraphQL over HTTP audit (graphql-http)', () => {
  it('passes every MUST', () => {
    expect(results.filter((r) => r.name.startsWith('MUST ')).length).toBeGreaterThan(0);
    expect(failing('MUST')).toEqual([]);
  });

  it('passes every SHOULD and MAY but the ones this server does not follow on purpose', () => {
    const failed = [...failing('SHOULD'), ...failing('MAY')];
    expect(Object.fromEntries(failed.map((f) => [f.id, f.name]))).toEqual(NOT_FOLLOWED);
  });
});
