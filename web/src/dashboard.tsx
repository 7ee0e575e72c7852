import { useRef, useState } from 'preact/hooks';
import { AccountsView } from './accounts-view';
import { api } from './api';
import { useCapabilities } from './capabilities';
import { ConnectLinksView } from './connect-links-view';
import { useHashView, type View } from './hooks';
import type { Landing } from './landing';
import type { User } from './types';
import { WebhooksView } from './webhooks-view';

const NAV: Array<{ view: View; href: string; label: string }> = [
  { view: 'accounts', href: '#/', label: 'Accounts' },
  { view: 'webhooks', href: '#/webhooks', label: 'Webhooks' },
  { view: 'links', href: '#/links', label: 'Client links' },
];

export function Dashboard(props: {
  user: User;
  landing: Landing;
  focusHeading: boolean;
  onLandingShown: () => void;
  onSignedOut: () => void;
}) {
  const view = useHashView();
  const caps = useCapabilities();
  const [signingOut, setSigningOut] = useState(false);
  // A view takes focus when the person moved to it: by signing in, or by changing section later.
  // Re-renders for other reasons (a capability probe answering) must not move focus again.
  const shownView = useRef(view);
  const focusView = useRef(props.focusHeading);
  if (shownView.current !== view) {
    shownView.current = view;
    focusView.current = true;
  }

  const signOut = async () => {
    if (signingOut) return;
    setSigningOut(true);
    await api('POST', '/auth/logout').catch(() => undefined);
    props.onSignedOut();
  };

  const available = (v: View) =>
    v === 'accounts' || (v === 'webhooks' ? caps.webhooks !== false : caps.links !== false);

  const sections = NAV.filter((item) => available(item.view));

  return (
    <>
      <header class="topbar">
        <a class="skip" href="#main">
          Skip to content
        </a>
        <span class="brand">ssell</span>
        {sections.length > 1 && (
          <nav class="sections" aria-label="Sections">
            {sections.map((item) => (
              <a
                key={item.view}
                href={item.href}
                aria-current={view === item.view ? 'page' : undefined}
              >
                {item.label}
              </a>
            ))}
          </nav>
        )}
        <div class="user">
          <span class="email" title={props.user.email}>
            {props.user.email}
          </span>
          <button
            type="button"
            class="quiet"
            onClick={() => void signOut()}
            aria-disabled={signingOut}
          >
            {signingOut ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      </header>
      <main class="page" id="main" tabIndex={-1}>
        {view === 'accounts' && (
          <AccountsView
            caps={caps}
            landing={props.landing}
            onLandingShown={props.onLandingShown}
            focusHeading={focusView.current}
          />
        )}
        {view === 'webhooks' && (
          <WebhooksView available={caps.webhooks} focusHeading={focusView.current} />
        )}
        {view === 'links' && (
          <ConnectLinksView available={caps.links} focusHeading={focusView.current} />
        )}
      </main>
    </>
  );
}
