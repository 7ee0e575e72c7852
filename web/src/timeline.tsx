import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from './api';
import { describeEvent } from './describe';
import { fullDateTime, relative } from './format';
import type { AccountEvent } from './types';

const LIMIT = 8;

/** An account's history, newest first, in sentences. `version` changes after each action. */
export function Timeline(props: {
  id: string;
  accountId: string;
  username: string;
  now: number;
  version: number;
}) {
  const [events, setEvents] = useState<AccountEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api<{ events: AccountEvent[]; nextCursor: string | null }>(
      'GET',
      `/instagram/accounts/${props.accountId}/events?limit=${LIMIT}`,
    ).then(
      (page) => {
        if (!live) return;
        setEvents(page.events);
        setCursor(page.nextCursor);
        setError(null);
      },
      (failure: unknown) => live && setError(errorMessage(failure)),
    );
    return () => {
      live = false;
    };
  }, [props.accountId, props.version]);

  const older = async () => {
    if (!cursor) return;
    try {
      const page = await api<{ events: AccountEvent[]; nextCursor: string | null }>(
        'GET',
        `/instagram/accounts/${props.accountId}/events?limit=${LIMIT}&cursor=${encodeURIComponent(cursor)}`,
      );
      setEvents((list) => [...(list ?? []), ...page.events]);
      setCursor(page.nextCursor);
    } catch (failure) {
      setError(errorMessage(failure));
    }
  };

  return (
    <section id={props.id} class="timeline" aria-label={`History of @${props.username}`}>
      {error && <p class="error">The history could not be loaded: {error}</p>}
      {events === null && !error && <p class="muted">Loading the history…</p>}
      {events && events.length === 0 && <p class="muted">Nothing has happened yet.</p>}
      {events && events.length > 0 && (
        <ol>
          {events.map((event) => (
            <li key={event.id}>
              <time dateTime={event.createdAt} title={fullDateTime(event.createdAt)}>
                {relative(event.createdAt, props.now)}
              </time>
              <span>{describeEvent(event)}</span>
            </li>
          ))}
        </ol>
      )}
      {cursor && (
        <button type="button" class="quiet small" onClick={() => void older()}>
          Show older events<span class="sr-only"> of @{props.username}</span>
        </button>
      )}
    </section>
  );
}
