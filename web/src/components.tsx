import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ApiError, Page, ProgressDetail } from './api';
import { localTime, progressDetailText, utcTime } from './format';
import { PAGE_SIZE } from './resource';

// A time in the browser's zone; UTC on hover (and for screen readers through the title).
export function Time({ iso, empty = '—' }: { iso: string | null | undefined; empty?: string }) {
  if (!iso) return <span class="muted">{empty}</span>;
  return (
    <time dateTime={iso} title={utcTime(iso)}>
      {localTime(iso)}
    </time>
  );
}

// A table cell holding a time.
export function TimeCell(props: { iso: string | null | undefined; empty?: string }) {
  return (
    <td>
      <Time iso={props.iso} empty={props.empty} />
    </td>
  );
}

// An error where the user acted: role=alert so that it is announced.
export function ErrorText({ error, id }: { error: ApiError | string | null; id?: string }) {
  if (!error) return null;
  const msg = typeof error === 'string' ? error : error.message;
  return (
    <p class="error" role="alert" id={id}>
      {msg}
    </p>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge badge-${state.toLowerCase()}`}>{state}</span>;
}

// Green when Succeeded, red when Failed, moving stripes while Running. With a progress_detail
// (newer daemons) the step and the bytes show under the bar; without one, the percentage only.
export function ProgressBar({ value, state, label, detail }: { value: number; state: string; label: string; detail?: ProgressDetail | null }) {
  const v = Math.max(0, Math.min(100, value));
  // The detail of a run that ended says nothing more than its state.
  const words = state === 'Running' ? progressDetailText(detail) : '';
  return (
    <div class="progress-block">
      <div class="progress-wrap">
        <div
          class={`progress progress-${state.toLowerCase()}`}
          role="progressbar"
          aria-label={label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={v}
          aria-valuetext={`${v}% — ${state}${words ? ` — ${words}` : ''}`}
          data-state={state}
        >
          {/* A failure before any progress still shows a red bar, not an empty one. */}
          <div class="progress-fill" style={{ width: `${state === 'Failed' && v === 0 ? 100 : v}%` }} />
        </div>
        <span class="progress-text" aria-hidden="true">
          {v}%
        </span>
      </div>
      {words && (
        <div class="progress-detail small muted" aria-hidden="true">
          {words}
        </div>
      )}
    </div>
  );
}

// A modal built on <dialog>: the browser traps focus, Escape closes it, and focus returns to
// the button that opened it.
export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  labelId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [opener] = useState(() => document.activeElement as HTMLElement | null);
  const id = props.labelId ?? `dlg-${props.title.replace(/\W+/g, '-').toLowerCase()}`;
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    return () => {
      // Close before moving focus: while the modal is open the rest of the page is inert.
      if (d.open) d.close();
      opener?.focus?.();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.wide ? 'wide' : ''}
      aria-labelledby={id}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <header class="dialog-head">
        <h2 id={id}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </header>
      <div class="dialog-body">{props.children}</div>
    </dialog>
  );
}

// A confirmation: the consequences in words, then a button that says what it does. The action
// runs here so that its error is shown in the dialog where the user confirmed.
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <div class="confirm-text">{props.children}</div>
      <ErrorText error={error} />
      <div class="actions">
        <button type="button" onClick={props.onClose} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await props.onConfirm();
              props.onClose();
            } catch (e) {
              setError(e as ApiError);
              setBusy(false);
            }
          }}
        >
          {busy ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

// A labelled form field with the server's message for it beside it (aria-describedby).
export function Field(props: {
  id: string;
  label: string;
  hint?: string;
  error?: string;
  children: (a11y: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ComponentChildren;
}) {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class={`field${props.error ? ' has-error' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children({ id: props.id, 'aria-invalid': !!props.error, 'aria-describedby': described || undefined })}
      {props.hint && (
        <small class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </small>
      )}
      {props.error && (
        <small class="field-error" id={`${props.id}-error`} role="alert">
          {props.error}
        </small>
      )}
    </div>
  );
}

export function Pager(props: { total: number; limit: number; offset: number; onPage: (offset: number) => void; what: string }) {
  if (props.total <= props.limit && props.offset === 0) return null;
  const page = Math.floor(props.offset / props.limit) + 1;
  const pages = Math.max(1, Math.ceil(props.total / props.limit));
  return (
    <nav class="pager" aria-label={`Pages of ${props.what}`}>
      <button type="button" disabled={props.offset === 0} onClick={() => props.onPage(Math.max(0, props.offset - props.limit))}>
        ‹ Previous
      </button>
      <span aria-live="polite">
        Page {page} of {pages} ({props.total} {props.what})
      </span>
      <button
        type="button"
        disabled={props.offset + props.limit >= props.total}
        onClick={() => props.onPage(props.offset + props.limit)}
      >
        Next ›
      </button>
    </nav>
  );
}

// The top of a page: what it is for with its buttons, the error of reading it, and what the
// last action did (role=status, announced politely).
export function PageTop(props: { intro: string; error: ApiError | null; notice: string; children?: ComponentChildren }) {
  return (
    <>
      <div class="toolbar">
        <p class="muted">{props.intro}</p>
        {props.children}
      </div>
      <ErrorText error={props.error} />
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
    </>
  );
}

// A table with a caption for screen readers. Column headings are texts, or [text, class]; with
// `actions` a last column holds the rows' buttons, its heading for screen readers only. `wrap`
// puts it in the scrolling card of a page's main list.
export function Table(props: {
  caption: ComponentChildren;
  columns: (string | [string, string])[];
  actions?: boolean;
  wrap?: boolean;
  class?: string;
  children: ComponentChildren;
}) {
  // A table with class "cards" turns each row into a card on a narrow screen (style.css), each
  // cell headed by its column's name: the cells learn it here, so that the pages need not.
  const ref = useRef<HTMLTableElement>(null);
  const names = props.columns.map((c) => (typeof c === 'string' ? c : c[0]));
  useLayoutEffect(() => {
    ref.current?.querySelectorAll('tbody > tr').forEach((tr) => {
      if (tr.children.length === 1) return; // a RowBelow across the row
      Array.from(tr.children).forEach((cell, i) => {
        if (names[i]) cell.setAttribute('data-label', names[i]);
      });
    });
  });
  const table = (
    <table class={props.class} ref={ref}>
      <caption class="sr-only">{props.caption}</caption>
      <thead>
        <tr>
          {props.columns.map((c) =>
            typeof c === 'string' ? (
              <th scope="col">{c}</th>
            ) : (
              <th scope="col" class={c[1]}>
                {c[0]}
              </th>
            ),
          )}
          {props.actions && (
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  );
  return props.wrap ? <div class="table-wrap">{table}</div> : table;
}

// A row under a table's row that says more about it (its error, a note), across all `span`
// columns. errorOf names the task whose error it shows (data-error-of).
export function RowBelow(props: { class: string; span: number; errorOf?: string; children: ComponentChildren }) {
  return (
    <tr class={props.class} data-error-of={props.errorOf}>
      <td colSpan={props.span}>{props.children}</td>
    </tr>
  );
}

// A page of a list (usePaged): nothing before the first answer, then `empty` or the rows, and
// the pager under them.
export function PagedList<T>(props: {
  list: { data: Page<T> | null; offset: number; setOffset: (offset: number) => void };
  what: string;
  empty: ComponentChildren;
  children: (items: T[]) => ComponentChildren;
}) {
  const { data, offset, setOffset } = props.list;
  if (!data) return null;
  return (
    <>
      {data.items.length === 0 ? <p class="empty">{props.empty}</p> : props.children(data.items)}
      <Pager total={data.total} limit={PAGE_SIZE} offset={offset} onPage={setOffset} what={props.what} />
    </>
  );
}
