// What the creation forms (backup task, restoration task) share: the form's state and frame, and
// the fields both ask for. Where the two forms differ on purpose (labels, hints, option texts)
// the difference is a parameter.
import type { ComponentChildren, InputHTMLAttributes } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, Cluster } from './api';
import { Dialog, ErrorText, Field } from './components';

export const PATH_TYPES = ['LocalDir', 'LocalHDFS', 'RemoteHDFS', 'OBS'] as const;
export type PathType = (typeof PATH_TYPES)[number];
// The path types on HDFS: they take a NameService.
export const onHdfs = (pt: PathType) => pt === 'LocalHDFS' || pt === 'RemoteHDFS';

// What both creations send of the fields they share.
export const taskBody = (f: { name: string; cluster: string; data_source: string; path_type: PathType }) => ({
  name: f.name,
  cluster: f.cluster,
  data_source: f.data_source,
  path_type: f.path_type,
});

// A form's values, the daemon's error of the last submit, and whether a submit is under way. The
// cluster becomes the first one listed once the clusters are known, unless one is chosen.
export function useCreateForm<F extends { cluster: string }>(initial: F, clusters: Cluster[]) {
  const [f, setF] = useState(initial);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!f.cluster && clusters.length) setF((x) => ({ ...x, cluster: clusters[0].name }));
  }, [clusters]);
  const set = (k: keyof F) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setF({ ...f, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  // An error that names a field is shown beside that field.
  const fieldError = (name: string) => (error?.field === name ? error.message : undefined);
  // What a TextField or SelectField needs of one value.
  const field = (k: keyof F & string) => ({ value: f[k] as string, set: set(k), error: fieldError(k) });
  // Sends the form; on a refusal the form stays open with the daemon's error.
  const submit = (send: () => Promise<void>) => async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await send();
    } catch (err) {
      setError(err as ApiError);
      setBusy(false);
    }
  };
  return { f, set, field, error, busy, submit };
}

type Form<K extends string> = { field: (k: K) => BoundField };
type BoundField = { value: string; set: (e: Event) => void; error?: string };

// A creation dialog: the fields, then the daemon's error when it names none of `fields` (so that
// no error goes unseen), then Cancel and Create, which calls send.
export function CreateForm(props: {
  title: string;
  form: { error: ApiError | null; busy: boolean; submit: (send: () => Promise<void>) => (e: Event) => void };
  fields: string[];
  send: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const { error, busy } = props.form;
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form noValidate onSubmit={props.form.submit(props.send)}>
        {props.children}
        {error && (!error.field || !props.fields.includes(error.field)) && <ErrorText error={error} />}
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// A one-line input in a Field; other input attributes (type, class, autoFocus…) pass through.
export function TextField({
  id,
  label,
  hint,
  error,
  value,
  set,
  ...input
}: BoundField & { id: string; label: string; hint?: string } & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'label'>) {
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      {(a) => <input {...a} {...input} value={value} onInput={set} />}
    </Field>
  );
}

// A select in a Field: options as [value, text].
export function SelectField(props: BoundField & { id: string; label: string; hint?: string; options: [string, ComponentChildren][] }) {
  return (
    <Field id={props.id} label={props.label} error={props.error} hint={props.hint}>
      {(a) => (
        <select {...a} value={props.value} onChange={props.set}>
          {props.options.map(([value, text]) => (
            <option value={value}>{text}</option>
          ))}
        </select>
      )}
    </Field>
  );
}

// The cluster to back up or restore into; `text` says what an option shows of its cluster.
export function ClusterField(props: {
  id: string;
  label: string;
  form: Form<'cluster'>;
  clusters: Cluster[];
  text?: (c: Cluster) => ComponentChildren;
}) {
  const text = props.text ?? ((c: Cluster) => c.name);
  return <SelectField id={props.id} label={props.label} {...props.form.field('cluster')} options={props.clusters.map((c) => [c.name, text(c)])} />;
}

const DATA_SOURCES = [
  ['Flink', 'all metadata sources'],
  ['FlinkServiceData', 'savepoints, checkpoints'],
] as const;

// Flink or FlinkServiceData; `explained` adds what each covers to its option.
export function DataSourceField({ id, form, explained }: { id: string; form: Form<'data_source'>; explained?: boolean }) {
  const options = DATA_SOURCES.map(([value, covers]): [string, string] => [value, explained ? `${value} (${covers})` : value]);
  return <SelectField id={id} label="Data source" {...form.field('data_source')} options={options} />;
}

export function PathTypeField({ id, form }: { id: string; form: Form<'path_type'> }) {
  return <SelectField id={id} label="Path type" {...form.field('path_type')} options={PATH_TYPES.map((p) => [p, p])} />;
}

// The parameters of the chosen path type: the NameService on HDFS, then the form's own fields.
export function PathParameters(props: {
  pathType: PathType;
  nameservice: { id: string; label: string };
  form: Form<'nameservice'>;
  children: ComponentChildren;
}) {
  return (
    <fieldset>
      <legend>{props.pathType} parameters</legend>
      {onHdfs(props.pathType) && <TextField {...props.nameservice} {...props.form.field('nameservice')} />}
      {props.children}
    </fieldset>
  );
}
