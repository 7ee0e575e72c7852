import { useEffect, useState } from 'preact/hooks';

/** The current time, re-read every `everyMs`, so relative times and countdowns stay true. */
export function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export type View = 'accounts' | 'webhooks' | 'links';

function viewOf(hash: string): View | undefined {
  if (hash === '' || hash === '#' || hash === '#/') return 'accounts';
  if (hash === '#/webhooks') return 'webhooks';
  if (hash === '#/links') return 'links';
  // Other fragments (the skip link's #main) are in-page targets, not views.
  return undefined;
}

/** The section named by the URL fragment (#/webhooks, #/links; anything else: accounts). */
export function useHashView(): View {
  const [view, setView] = useState<View>(() => viewOf(location.hash) ?? 'accounts');
  useEffect(() => {
    const onChange = () => {
      const next = viewOf(location.hash);
      if (next) setView(next);
    };
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return view;
}

/** Focus an element once the browser has painted the change that brought it. */
export function focusSoon(get: () => HTMLElement | null | undefined): void {
  requestAnimationFrame(() => get()?.focus());
}

/** Puts focus on `fallback` when the element that had it went away or became disabled. */
export function keepFocusIn(fallback: () => HTMLElement | null | undefined): void {
  requestAnimationFrame(() => {
    const active = document.activeElement;
    if (!active || active === document.body || (active as HTMLButtonElement).disabled) {
      fallback()?.focus();
    }
  });
}
