import { useEffect, useState, type ReactNode } from 'react';
import { api, describeError } from '../api';
import { dateTime } from '../format';
import {
  WebJoinWaitingRoomDocument,
  WebQueuePassDocument,
  WebQueuePassUpdatedDocument,
  type WebQueuePassFragment,
} from '../gql/graphql';
import { Link } from '../router';
import { useSession } from '../session';
import type { EventDetail } from './event';

/** "about 3 minutes" for a wait in seconds. */
function roughly(seconds: number): string {
  if (seconds < 60) return `about ${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/**
 * An event with a waiting room: the buyer joins, watches their place live (queuePassUpdated), and
 * sees the booking panel (with their signed admission) only while admitted.
 */
export function WaitingRoomPanel({
  event,
  children,
}: {
  event: EventDetail;
  children: (admissionToken: string) => ReactNode;
}) {
  const { user } = useSession();
  const [pass, setPass] = useState<WebQueuePassFragment | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!user) return;
    let live = true;
    api
      .request(WebQueuePassDocument, { eventId: event.id })
      .then((d) => live && setPass(d.queuePass))
      .catch((err: unknown) => live && setError(describeError(err)));
    return () => {
      live = false;
    };
  }, [event.id, user]);

  const joined = !!pass;
  useEffect(() => {
    if (!joined) return;
    return api.subscribe(
      WebQueuePassUpdatedDocument,
      { eventId: event.id },
      (d) => setPass(d.queuePassUpdated),
      (err) => setError(describeError(err)),
    );
  }, [event.id, joined]);

  const room = event.waitingRoom!;
  if (!user)
    return (
      <section className="panel" aria-labelledby="room-title">
        <h2 id="room-title">Waiting room</h2>
        <p>
          <Link href={`/signin?next=/events/${event.id}`}>Sign in or create an account</Link> to join the queue.
        </p>
      </section>
    );

  const join = async () => {
    setBusy(true);
    setError(null);
    try {
      setPass((await api.request(WebJoinWaitingRoomDocument, { eventId: event.id })).joinWaitingRoom);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const canJoin = pass === null || pass?.state === 'EXPIRED';
  return (
    <>
      <section className="panel" aria-labelledby="room-title">
        <h2 id="room-title">Waiting room</h2>
        <div role="status" aria-live="polite" data-testid="queue-pass">
          {pass === undefined && !error && <p aria-busy="true">Loading your place…</p>}
          {pass === null && (
            <p>
              The queue opens at {dateTime(room.opensAt)}. Everyone who joins before the sale gets a random place when
              it starts.
            </p>
          )}
          {pass?.state === 'WAITING' && pass.position === null && (
            <p>You are in the queue. Your place is drawn when the sale starts.</p>
          )}
          {pass?.state === 'WAITING' && pass.position !== null && (
            <p>
              Your place: <strong data-testid="queue-position">{pass.position}</strong>
              {pass.ahead !== null && <> · {pass.ahead} ahead of you</>}
              {pass.estimatedWaitSeconds !== null && <> · {roughly(pass.estimatedWaitSeconds)}</>}
            </p>
          )}
          {pass?.state === 'ADMITTED' && (
            <p data-testid="admitted">It is your turn: book before {dateTime(pass.admittedUntil!)}.</p>
          )}
          {pass?.state === 'EXPIRED' && <p>Your turn ran out. Join again to get a new place at the back.</p>}
          {pass?.state === 'CLOSED' && (
            <p data-testid="queue-closed">Sold out. The queue moves again if tickets come back.</p>
          )}
        </div>
        {canJoin && (
          <button type="button" disabled={busy} onClick={() => void join()}>
            {busy ? 'Joining…' : 'Join the waiting room'}
          </button>
        )}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </section>
      {pass?.state === 'ADMITTED' && pass.admissionToken && children(pass.admissionToken)}
    </>
  );
}
