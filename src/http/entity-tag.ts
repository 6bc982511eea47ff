import { createHash } from 'node:crypto';

/** A strong entity tag of these bytes (parts are hashed in order, separated). */
export function entityTag(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  parts.forEach((part, i) => {
    if (i > 0) hash.update('\n');
    hash.update(part);
  });
  return `"${hash.digest('base64url').slice(0, 22)}"`;
}

/** `If-None-Match` (a list, or `*`) against our tag, compared weakly as RFC 9110 says for this header. */
export function matchesEntityTag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
