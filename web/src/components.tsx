import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { localTime, utcTime } from './format';

// A time in the browser's zone; UTC on hover (and for screen readers through the title).
export function Time({ iso, empty = '—' }: { iso: string | null | undefined; empty?: string }) {
  if (!iso) return <span class="muted">{empty}</span>;
  return (
    <time dateTime={iso} title={utcTime(iso)}>
      {localTime(iso)}
    </time>
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

// Green when Succeeded, red when Failed, moving stripes while Running.
export function ProgressBar({ value, state, label }: { value: number; state: string; label: string }) {
  const v = Math.max(0, Math.min(100, value));
  return (
    <div class="progress-wrap">
      <div
        class={`progress progress-${state.toLowerCase()}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={v}
        aria-valuetext={`${v}% — ${state}`}
        data-state={state}
      >
        {/* A failure before any progress still shows a red bar, not an empty one. */}
        <div class="progress-fill" style={{ width: `${state === 'Failed' && v === 0 ? 100 : v}%` }} />
      </div>
      <span class="progress-text" aria-hidden="true">
        {v}%
      </span>
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
