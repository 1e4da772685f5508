// Reading the API into a page: one answer (useResource), a paged list (usePaged) and the
// clusters (useClusters). Each keeps the last good answer and the last error side by side, as
// the pages show both: an error above a list that is still the last one read.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, type Cluster, type Page, pageQuery } from './api';

// Rows per page of every list (docs/console.md: "a page of 20 at a time").
export const PAGE_SIZE = 20;

// Loads overlap (a click and the events it causes each read the list again) and their answers
// may come back in any order. Each load takes a ticket; only the newest ticket's answer is
// applied, so an older answer never puts back a state the page has already left.
export function useLatest() {
  const n = useRef(0);
  return () => {
    const mine = ++n.current;
    return () => mine === n.current;
  };
}

// GET path now and whenever path changes; reload() reads it again (after an action or an event).
// An error keeps the data already shown; a later success clears the error.
export function useResource<T>(path: string) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const ticket = useLatest();
  const reload = () => {
    const current = ticket();
    return call<T>('GET', path)
      .then((d) => {
        if (!current()) return;
        setData(d);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void reload(), [path]);
  return { data, setData, error, reload };
}

// A list the API pages with limit/offset: the page at offset, read again when offset changes.
// A path with a query of its own (a filter: `/audit?user=x`) gets the paging parameters after it.
export function usePaged<T>(path: string) {
  const [offset, setOffset] = useState(0);
  const paging = pageQuery(PAGE_SIZE, offset);
  return { ...useResource<Page<T>>(path + (path.includes('?') ? '&' + paging.slice(1) : paging)), offset, setOffset };
}

// The same empty list until the first answer, so that effects keyed on it do not run each render.
const NO_CLUSTERS: Cluster[] = [];

export function useClusters() {
  const { data, error, reload } = useResource<{ items: Cluster[] }>('/clusters');
  return { clusters: data?.items ?? NO_CLUSTERS, error, reload };
}
