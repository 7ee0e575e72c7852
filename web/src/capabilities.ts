import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api';

/**
 * Which of the service's newer features this server has. Each is probed once; `undefined` while
 * the probe runs. A missing feature hides its part of the page instead of showing an error.
 */
export interface Capabilities {
  /** GET/PUT /instagram/accounts/current (account switching). */
  current: boolean | undefined;
  /** /webhooks (outgoing webhooks). */
  webhooks: boolean | undefined;
  /** /instagram/connect-links (links for clients). */
  links: boolean | undefined;
  /** Demo mode: Instagram is the bundled emulator. */
  demo: boolean;
}

async function probe(path: string, missing: (error: ApiError) => boolean): Promise<boolean> {
  try {
    await api('GET', path);
    return true;
  } catch (error) {
    if (error instanceof ApiError && missing(error)) return false;
    // The route exists but refused (a 404 "no current account", a 403): the feature is there.
    return error instanceof ApiError && error.status !== 0;
  }
}

export function useCapabilities(): Capabilities {
  const [caps, setCaps] = useState<Capabilities>({
    current: undefined,
    webhooks: undefined,
    links: undefined,
    demo: false,
  });
  useEffect(() => {
    const set = (patch: Partial<Capabilities>) => setCaps((c) => ({ ...c, ...patch }));
    // Without the feature, "current" is taken for an account id by GET /instagram/accounts/:id: 400.
    void probe('/instagram/accounts/current', (e) => e.routeMissing || e.status === 400).then(
      (current) => set({ current }),
    );
    void probe('/webhooks', (e) => e.routeMissing).then((webhooks) => set({ webhooks }));
    void probe('/instagram/connect-links', (e) => e.routeMissing).then((links) => set({ links }));
    api<{ demo?: boolean }>('GET', '/instagram/oauth/info').then(
      (info) => set({ demo: info.demo === true }),
      () => undefined,
    );
  }, []);
  return caps;
}
