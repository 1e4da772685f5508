import { useEffect, useState } from 'preact/hooks';
import { ApiError, type BackupRecord, type BackupTask, call, type Cluster, enc, type Page, pageQuery } from '../api';
import { Dialog, ErrorText, Field, Pager, StateBadge, Time, useLatest } from '../components';
import { useEvents } from '../events';
import { bytes, period } from '../format';

const PAGE = 20;
const PATH_TYPES = ['LocalDir', 'LocalHDFS', 'RemoteHDFS', 'OBS'] as const;
type PathType = (typeof PATH_TYPES)[number];

export function BackupsPage({ canOperate }: { canOperate: boolean }) {
  const [data, setData] = useState<Page<BackupTask> | null>(null);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [rowError, setRowError] = useState<{ task: string; error: ApiError } | null>(null);
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [history, setHistory] = useState<string | null>(null);
  const ticket = useLatest();

  const load = () => {
    const current = ticket();
    return call<Page<BackupTask>>('GET', '/backup-tasks' + pageQuery(PAGE, offset))
      .then((d) => {
        if (!current()) return;
        setData(d);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void load(), [offset]);
  useEvents((kind) => kind === 'backup' && void load(), [offset]);

  return (
    <section aria-label="Backup tasks">
      <div class="toolbar">
        <p class="muted">Backup tasks and the records of their runs. A record's backup path goes into a restoration task.</p>
        {canOperate && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create backup task
          </button>
        )}
      </div>
      <ErrorText error={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {data && data.items.length === 0 && <p class="empty">No backup tasks yet.{canOperate ? ' Create one to back up a cluster.' : ''}</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Backup tasks</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Cluster</th>
                <th scope="col">Data source</th>
                <th scope="col">Path type</th>
                <th scope="col">Mode</th>
                <th scope="col">Last run</th>
                <th scope="col">Status</th>
                <th scope="col">Next run</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((t) => (
                <>
                  <tr key={t.name} data-task={t.name}>
                    <th scope="row">{t.name}</th>
                    <td>{t.cluster}</td>
                    <td>{t.data_source}</td>
                    <td>{t.path_type}</td>
                    <td>{t.mode === 'periodic' ? `${period(t.period_seconds)}${t.suspended ? ' (suspended)' : ''}` : 'manual'}</td>
                    <td>
                      <Time iso={t.last_run?.started_at} empty="never" />
                    </td>
                    <td>{t.last_run ? <StateBadge state={t.last_run.status} /> : <span class="muted">—</span>}</td>
                    <td>{t.mode === 'periodic' && !t.suspended ? <Time iso={t.next_run} /> : <span class="muted">—</span>}</td>
                    <td class="row-actions">
                      {canOperate && (
                        <button
                          type="button"
                          aria-label={`Run ${t.name} now`}
                          onClick={async () => {
                            setRowError(null);
                            setNotice('');
                            try {
                              await call('POST', `/backup-tasks/${enc(t.name)}/run`);
                              setNotice(`Started a run of ${t.name}; its status shows in its row.`);
                              load();
                            } catch (e) {
                              setRowError({ task: t.name, error: e as ApiError });
                            }
                          }}
                        >
                          Run now
                        </button>
                      )}
                      <button type="button" aria-label={`View history of ${t.name}`} onClick={() => setHistory(t.name)}>
                        View History
                      </button>
                    </td>
                  </tr>
                  {rowError?.task === t.name && (
                    <tr class="row-error">
                      <td colSpan={9}>
                        <ErrorText error={rowError.error} />
                      </td>
                    </tr>
                  )}
                </>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && <Pager total={data.total} limit={PAGE} offset={offset} onPage={setOffset} what="backup tasks" />}
      {creating && (
        <CreateBackupDialog
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setNotice(`Backup task ${name} created.`);
            load();
          }}
        />
      )}
      {history && <HistoryDialog task={history} onClose={() => setHistory(null)} />}
    </section>
  );
}

export function useClusters() {
  const [clusters, setClusters] = useState<Cluster[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const ticket = useLatest();
  const load = () => {
    const current = ticket();
    return call<{ items: Cluster[] }>('GET', '/clusters')
      .then((r) => {
        if (!current()) return;
        setClusters(r.items);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void load(), []);
  return { clusters, error, reload: load };
}

function CreateBackupDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (name: string) => void }) {
  const { clusters, error: clusterError } = useClusters();
  const [f, setF] = useState({
    name: '',
    cluster: '',
    data_source: 'Flink',
    path_type: 'LocalDir' as PathType,
    path: '',
    nameservice: 'hacluster',
    namenode_ip: '',
    max_copies: '',
    mode: 'manual',
    period: '1d',
    start_time: '',
    verify: false,
  });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!f.cluster && clusters.length) setF((x) => ({ ...x, cluster: clusters[0].name }));
  }, [clusters]);
  const set = (k: keyof typeof f) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setF({ ...f, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  const fieldError = (name: string) => (error?.field === name ? error.message : undefined);
  const pt = f.path_type;

  return (
    <Dialog title="Create backup task" onClose={onClose}>
      <form
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const body: Record<string, unknown> = {
            name: f.name,
            cluster: f.cluster,
            data_source: f.data_source,
            path_type: pt,
          };
          if (f.path) body.path = f.path;
          if (pt === 'LocalHDFS' || pt === 'RemoteHDFS') body.nameservice = f.nameservice;
          if (pt === 'RemoteHDFS') body.namenode_ip = f.namenode_ip;
          if (f.max_copies !== '') body.max_copies = Number(f.max_copies);
          if (f.verify) body.verify = true;
          if (f.mode === 'periodic') {
            body.period = f.period;
            if (f.start_time) body.start_time = new Date(f.start_time).toISOString().replace(/\.\d+Z$/, 'Z');
          }
          try {
            await call('POST', '/backup-tasks', body);
            onCreated(f.name);
          } catch (err) {
            setError(err as ApiError);
            setBusy(false);
          }
        }}
      >
        <ErrorText error={clusterError} />
        <Field id="b-name" label="Task name" error={fieldError('name')} hint="Letters, digits, '.', '_' and '-'.">
          {(a) => <input {...a} value={f.name} onInput={set('name')} required autocomplete="off" autoFocus />}
        </Field>
        <Field id="b-cluster" label="Cluster" error={fieldError('cluster')}>
          {(a) => (
            <select {...a} value={f.cluster} onChange={set('cluster')}>
              {clusters.map((c) => (
                <option value={c.name}>{c.name}</option>
              ))}
            </select>
          )}
        </Field>
        <Field id="b-data-source" label="Data source" error={fieldError('data_source')}>
          {(a) => (
            <select {...a} value={f.data_source} onChange={set('data_source')}>
              <option value="Flink">Flink (all metadata sources)</option>
              <option value="FlinkServiceData">FlinkServiceData (savepoints, checkpoints)</option>
            </select>
          )}
        </Field>
        <Field id="b-path-type" label="Path type" error={fieldError('path_type')}>
          {(a) => (
            <select {...a} value={pt} onChange={set('path_type')}>
              {PATH_TYPES.map((p) => (
                <option value={p}>{p}</option>
              ))}
            </select>
          )}
        </Field>
        <fieldset>
          <legend>{pt} parameters</legend>
          {(pt === 'LocalHDFS' || pt === 'RemoteHDFS') && (
            <Field id="b-nameservice" label="NameService name" error={fieldError('nameservice')}>
              {(a) => <input {...a} value={f.nameservice} onInput={set('nameservice')} />}
            </Field>
          )}
          {pt === 'RemoteHDFS' && (
            <Field id="b-namenode-ip" label="NameNode IP address" error={fieldError('namenode_ip')} hint="IPv4 or IPv6, optionally with :port.">
              {(a) => <input {...a} value={f.namenode_ip} onInput={set('namenode_ip')} />}
            </Field>
          )}
          <Field
            id="b-path"
            label={pt === 'OBS' ? 'Bucket and prefix' : pt === 'LocalDir' ? 'Backup directory' : 'HDFS backup directory'}
            error={fieldError('path')}
            hint={pt === 'LocalDir' ? 'Leave empty for <state_dir>/LocalBackup.' : pt === 'OBS' ? 'bucket/prefix' : undefined}
          >
            {(a) => <input {...a} value={f.path} onInput={set('path')} />}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Schedule and retention</legend>
          <Field id="b-mode" label="Mode" error={fieldError('mode')}>
            {(a) => (
              <select {...a} value={f.mode} onChange={set('mode')}>
                <option value="manual">Manual</option>
                <option value="periodic">Periodic</option>
              </select>
            )}
          </Field>
          {f.mode === 'periodic' && (
            <>
              <Field id="b-period" label="Period" error={fieldError('period')} hint="A number and s, m, h or d, e.g. 1d.">
                {(a) => <input {...a} value={f.period} onInput={set('period')} />}
              </Field>
              <Field id="b-start-time" label="First run (your time zone)" error={fieldError('start_time')} hint="Empty: now.">
                {(a) => <input {...a} type="datetime-local" step={1} value={f.start_time} onInput={set('start_time')} />}
              </Field>
            </>
          )}
          <Field id="b-max-copies" label="Maximum backup copies" error={fieldError('max_copies')} hint="Empty or 0 keeps all.">
            {(a) => <input {...a} type="number" min={0} value={f.max_copies} onInput={set('max_copies')} />}
          </Field>
          <div class="check">
            <input id="b-verify" type="checkbox" checked={f.verify} onChange={set('verify')} />
            <label for="b-verify">Verify each new backup file after writing it</label>
          </div>
        </fieldset>
        {error && !error.field && <ErrorText error={error} />}
        {error?.field && !['name', 'cluster', 'data_source', 'path_type', 'path', 'nameservice', 'namenode_ip', 'max_copies', 'period', 'start_time', 'mode'].includes(error.field) && (
          <ErrorText error={error} />
        )}
        <div class="actions">
          <button type="button" onClick={onClose}>
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

function HistoryDialog({ task, onClose }: { task: string; onClose: () => void }) {
  const [data, setData] = useState<Page<BackupRecord> | null>(null);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [view, setView] = useState<BackupRecord | null>(null);
  const ticket = useLatest();
  const load = () => {
    const current = ticket();
    return call<Page<BackupRecord>>('GET', `/backup-tasks/${enc(task)}/records` + pageQuery(PAGE, offset))
      .then((d) => {
        if (!current()) return;
        setData(d);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void load(), [offset]);
  useEvents((kind, d) => kind === 'backup' && d.task === task && void load(), [offset]);

  return (
    <Dialog title={`History of ${task}`} onClose={onClose} wide>
      <ErrorText error={error} />
      {data && data.items.length === 0 && <p class="empty">This task has not run yet.</p>}
      {data && data.items.length > 0 && (
        <table>
          <caption class="sr-only">Backup records of {task}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Ended</th>
              <th scope="col">Size</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((r) => (
              <tr data-record={r.id}>
                <td>
                  <StateBadge state={r.status} />
                  {r.status === 'Running' && <span class="muted"> {r.progress}%</span>}
                  {r.status === 'Failed' && r.error && <div class="error small">{r.error}</div>}
                </td>
                <td>
                  <Time iso={r.started_at} />
                </td>
                <td>
                  <Time iso={r.ended_at} />
                </td>
                <td>{r.status === 'Succeeded' || r.status === 'Removed' ? bytes(r.size) : '—'}</td>
                <td>
                  <button type="button" aria-label={`View record ${r.id}`} onClick={() => setView(r)}>
                    View
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && <Pager total={data.total} limit={PAGE} offset={offset} onPage={setOffset} what="records" />}
      {view && <RecordView record={view} />}
    </Dialog>
  );
}

function RecordView({ record }: { record: BackupRecord }) {
  const [copied, setCopied] = useState('');
  const id = `rec-${record.id}`;
  return (
    <section class="record-view card" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Backup record {record.id}</h3>
      <dl>
        <dt>Backup object</dt>
        <dd data-testid="backup-object">{record.backup_object || '—'}</dd>
        <dt>
          <label for={`${id}-path`}>Backup path</label>
        </dt>
        <dd class="copy-row">
          <input id={`${id}-path`} readOnly value={record.backup_path} onFocus={(e) => e.currentTarget.select()} />
          <button
            type="button"
            disabled={!record.backup_path}
            onClick={async () => {
              try {
                await navigator.clipboard.writeText(record.backup_path);
                setCopied('Copied the backup path to the clipboard.');
              } catch {
                // No clipboard permission (e.g. a page not served over a secure origin): leave the
                // path selected so that Ctrl+C copies it.
                const input = document.getElementById(`${id}-path`) as HTMLInputElement;
                input.focus();
                input.select();
                setCopied('The browser refused the clipboard; the path is selected: press Ctrl+C.');
              }
            }}
          >
            Copy
          </button>
        </dd>
        <dt>Status</dt>
        <dd>
          <StateBadge state={record.status} />
        </dd>
        <dt>System version</dt>
        <dd>{record.system_version || '—'}</dd>
        <dt>Checksum</dt>
        <dd class="mono">{record.checksum || '—'}</dd>
        {record.error && (
          <>
            <dt>Error</dt>
            <dd class="error">{record.error}</dd>
          </>
        )}
      </dl>
      <p class="notice" role="status" aria-live="polite">
        {copied}
      </p>
    </section>
  );
}
