// One EventSource on /api/v1/events (the session cookie authenticates it) shared by every page.
// Pages subscribe to the kinds they show; the browser reconnects by itself with Last-Event-ID.
import { useEffect } from 'preact/hooks';

export type EventKind = 'restore' | 'backup' | 'service';
type Listener = (kind: EventKind, data: any) => void;

const listeners = new Set<Listener>();
const statusListeners = new Set<(live: boolean) => void>();
let source: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;

export function connectEvents() {
  if (source) return;
  const es = new EventSource('/api/v1/events');
  source = es;
  es.onopen = () => statusListeners.forEach((l) => l(true));
  es.onerror = () => {
    statusListeners.forEach((l) => l(false));
    // The browser reconnects by itself after a dropped stream, but gives up for good after an
    // error answer (a daemon restarting answers 503, say): try again a little later.
    if (es.readyState === EventSource.CLOSED && source === es) {
      source = null;
      retry = setTimeout(() => {
        retry = null;
        connectEvents();
      }, 5000);
    }
  };
  for (const kind of ['restore', 'backup', 'service'] as EventKind[])
    es.addEventListener(kind, (e) => {
      let data: any;
      try {
        data = JSON.parse((e as MessageEvent).data);
      } catch {
        return;
      }
      listeners.forEach((l) => l(kind, data));
    });
}

export function disconnectEvents() {
  if (retry) clearTimeout(retry);
  retry = null;
  source?.close();
  source = null;
  statusListeners.forEach((l) => l(false));
}

export function useEvents(fn: Listener, deps: unknown[]) {
  useEffect(() => {
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, deps);
}

export function useLiveStatus(fn: (live: boolean) => void) {
  useEffect(() => {
    statusListeners.add(fn);
    return () => void statusListeners.delete(fn);
  }, []);
}
