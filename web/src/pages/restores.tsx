import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, type Cluster, enc, type Page, pageQuery, type RestoreDetail, type RestoreTask } from '../api';
import { Confirm, Dialog, ErrorText, Field, Pager, ProgressBar, StateBadge, Time, useLatest } from '../components';
import { useEvents } from '../events';
import { useClusters } from './backups';

const PAGE = 20;
const PATH_TYPES = ['LocalDir', 'LocalHDFS', 'RemoteHDFS', 'OBS'] as const;
type PathType = (typeof PATH_TYPES)[number];

type Pending =
  | { kind: 'start' | 'retry'; task: RestoreTask }
  | { kind: 'delete'; task: RestoreTask }
  | { kind: 'service'; task: RestoreTask };

export function RestoresPage({ canOperate }: { canOperate: boolean }) {
  const [data, setData] = useState<Page<RestoreTask> | null>(null);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [details, setDetails] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const { clusters, error: clusterError, reload: reloadClusters } = useClusters();
  const ticket = useLatest();

  const load = () => {
    const current = ticket();
    return call<Page<RestoreTask>>('GET', '/restore-tasks' + pageQuery(PAGE, offset))
      .then((d) => {
        if (!current()) return;
        setData(d);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void load(), [offset]);
  // Progress arrives on the event stream; a task that reached an end state is read again for
  // its error, and the clusters for their service state.
  useEvents(
    (kind, ev) => {
      if (kind === 'service') return void reloadClusters();
      if (kind !== 'restore') return;
      setData((d) => {
        if (!d) return d;
        const i = d.items.findIndex((t) => t.name === ev.name);
        if (i < 0) return d;
        const items = d.items.slice();
        items[i] = { ...items[i], state: ev.state, progress: ev.progress };
        return { ...d, items };
      });
      if (ev.state !== 'Running') {
        load();
        reloadClusters();
      }
    },
    [offset],
  );

  const clusterOf = (name: string) => clusters.find((c) => c.name === name);

  return (
    <section aria-label="Restoration tasks">
      <div class="toolbar">
        <p class="muted">Each task restores one backup file into one cluster. The Flink service must be stopped while it runs.</p>
        {canOperate && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create restoration task
          </button>
        )}
      </div>
      <ErrorText error={error ?? clusterError} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {data && data.items.length === 0 && <p class="empty">No restoration tasks.</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Restoration tasks</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Recovery object</th>
                <th scope="col">Data source</th>
                <th scope="col">Path type</th>
                <th scope="col" class="col-progress">
                  Progress
                </th>
                <th scope="col">State</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((t) => {
                const service = clusterOf(t.cluster)?.service.state;
                return (
                  <>
                    <tr data-task={t.name} data-state={t.state}>
                      <th scope="row">
                        {t.name}
                        <div class="muted small mono break source-path" title={t.source_path}>
                          {t.source_path}
                        </div>
                      </th>
                      <td>{t.cluster}</td>
                      <td>{t.data_source}</td>
                      <td>{t.path_type}</td>
                      <td>
                        <ProgressBar value={t.progress} state={t.state} label={`Progress of ${t.name}`} />
                      </td>
                      <td>
                        <StateBadge state={t.state} />
                      </td>
                      <td>
                        <Time iso={t.updated_at} />
                      </td>
                      <td class="row-actions">
                        <button type="button" aria-label={`Details of ${t.name}`} onClick={() => setDetails(t.name)}>
                          Details
                        </button>
                        {canOperate && t.state === 'Created' && (
                          <button type="button" class="primary" onClick={() => setPending({ kind: 'start', task: t })}>
                            Start
                          </button>
                        )}
                        {canOperate && t.state === 'Failed' && (
                          <button type="button" class="primary" onClick={() => setPending({ kind: 'retry', task: t })}>
                            Retry
                          </button>
                        )}
                        {canOperate && t.state === 'Succeeded' && service !== 'running' && (
                          <button type="button" class="primary" onClick={() => setPending({ kind: 'service', task: t })}>
                            Start service
                          </button>
                        )}
                        {canOperate && t.state !== 'Running' && (
                          <button type="button" class="danger-quiet" aria-label={`Delete ${t.name}`} onClick={() => setPending({ kind: 'delete', task: t })}>
                            Delete
                          </button>
                        )}
                      </td>
                    </tr>
                    {t.state === 'Failed' && t.error && (
                      <tr class="row-error" data-error-of={t.name}>
                        <td colSpan={8}>
                          <p class="error" role="alert">
                            <strong>Failed:</strong> {t.error}
                          </p>
                        </td>
                      </tr>
                    )}
                    {t.state === 'Succeeded' && service && service !== 'running' && (
                      <tr class="row-note">
                        <td colSpan={8}>
                          Restored. The Flink service of {t.cluster} is {service}
                          {canOperate ? ': start it when you are ready.' : '.'}
                        </td>
                      </tr>
                    )}
                  </>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {data && <Pager total={data.total} limit={PAGE} offset={offset} onPage={setOffset} what="restoration tasks" />}
      {creating && (
        <CreateRestoreDialog
          clusters={clusters}
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setNotice(`Restoration task ${name} created. Start it when the Flink service is stopped.`);
            load();
          }}
        />
      )}
      {details && <DetailsDialog name={details} onClose={() => setDetails(null)} />}
      {pending && (pending.kind === 'start' || pending.kind === 'retry') && (
        <Confirm
          title={`${pending.kind === 'start' ? 'Start' : 'Retry'} restoration ${pending.task.name}?`}
          confirmLabel={pending.kind === 'start' ? 'Start restoration' : 'Retry restoration'}
          danger
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await call('POST', `/restore-tasks/${enc(pending.task.name)}/${pending.kind}`);
            setNotice(`Started restoration ${pending.task.name}; its progress shows in its row.`);
            load();
          }}
        >
          <StartWarning task={pending.task} cluster={clusterOf(pending.task.cluster)} />
        </Confirm>
      )}
      {pending?.kind === 'delete' && (
        <Confirm
          title={`Delete restoration task ${pending.task.name}?`}
          confirmLabel="Delete task"
          danger
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await call('DELETE', `/restore-tasks/${enc(pending.task.name)}`);
            setNotice(`Restoration task ${pending.task.name} deleted.`);
            load();
          }}
        >
          <p>The task, its attempts and their logs are deleted. The cluster and the backup file are not touched.</p>
        </Confirm>
      )}
      {pending?.kind === 'service' && (
        <Confirm
          title={`Start the Flink service of ${pending.task.cluster}?`}
          confirmLabel="Start service"
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await call('POST', `/clusters/${enc(pending.task.cluster)}/service/start`);
            setNotice(`The Flink service of ${pending.task.cluster} is running.`);
            reloadClusters();
          }}
        >
          <p>
            Restoration <strong>{pending.task.name}</strong> succeeded. Starting the service lets Flink recover its jobs from the restored metadata.
          </p>
        </Confirm>
      )}
    </section>
  );
}

// What a restoration does, said before it does it.
function StartWarning({ task, cluster }: { task: RestoreTask; cluster?: Cluster }) {
  const sources = cluster ? (task.data_source === 'FlinkServiceData' ? cluster.service_data : cluster.metadata) : [];
  const service = cluster?.service.state;
  return (
    <div class="warning-box">
      <p>
        This replaces the {task.data_source === 'FlinkServiceData' ? 'service data' : 'metadata'} of cluster <strong>{task.cluster}</strong> with the backup
        file <code class="break">{task.source_path}</code>. These will be overwritten:
      </p>
      {sources.length > 0 ? (
        <ul>
          {sources.map((s) => (
            <li>
              <strong>{s.name}</strong> ({s.kind}) <code class="break">{s.location}</code>
            </li>
          ))}
        </ul>
      ) : (
        <p>every {task.data_source === 'FlinkServiceData' ? 'service-data' : 'metadata'} source of the cluster.</p>
      )}
      <p>
        <strong>Everything written to them since the backup was taken will be lost.</strong> A safety copy is taken first and put back if applying fails.
      </p>
      <p>
        The Flink service of {task.cluster} must be stopped, or the restoration is refused.
        {service && (
          <>
            {' '}
            It is <strong>{service}</strong> now.
          </>
        )}
      </p>
    </div>
  );
}

const RESTORE_FIELDS = ['name', 'cluster', 'data_source', 'path_type', 'source_path', 'nameservice', 'ip_mode', 'namenode_ip', 'queue'];

function CreateRestoreDialog({ clusters, onClose, onCreated }: { clusters: Cluster[]; onClose: () => void; onCreated: (name: string) => void }) {
  const [f, setF] = useState({
    name: '',
    cluster: clusters[0]?.name ?? '',
    data_source: 'Flink',
    path_type: 'LocalDir' as PathType,
    source_path: '',
    nameservice: 'hacluster',
    ip_mode: 'auto',
    namenode_ip: '',
    queue: '',
  });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!f.cluster && clusters.length) setF((x) => ({ ...x, cluster: clusters[0].name }));
  }, [clusters]);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const fe = (name: string) => (error?.field === name ? error.message : undefined);
  const pt = f.path_type;
  const pathLabel = pt === 'OBS' ? 'Source path (bucket/key)' : pt === 'LocalDir' ? 'Source path (backup file on the manager)' : 'Source path (full HDFS path)';

  return (
    <Dialog title="Create restoration task" onClose={onClose}>
      <form
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          // Exactly the parameters of the path type (product brief, "Parameters of a
          // restoration task by path type").
          const body: Record<string, string> = {
            name: f.name,
            cluster: f.cluster,
            data_source: f.data_source,
            path_type: pt,
            source_path: f.source_path,
          };
          if (pt === 'LocalHDFS' || pt === 'RemoteHDFS') body.nameservice = f.nameservice;
          if (pt === 'RemoteHDFS') {
            body.ip_mode = f.ip_mode;
            body.namenode_ip = f.namenode_ip;
            body.queue = f.queue;
          }
          try {
            await call('POST', '/restore-tasks', body);
            onCreated(f.name);
          } catch (err) {
            setError(err as ApiError);
            setBusy(false);
          }
        }}
      >
        <Field id="r-name" label="Task name" error={fe('name')} hint="Letters, digits, '.', '_' and '-'.">
          {(a) => <input {...a} value={f.name} onInput={set('name')} autocomplete="off" autoFocus />}
        </Field>
        <Field id="r-cluster" label="Recovery object (cluster)" error={fe('cluster')}>
          {(a) => (
            <select {...a} value={f.cluster} onChange={set('cluster')}>
              {clusters.map((c) => (
                <option value={c.name}>
                  {c.name} (version {c.version || 'unknown'})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="r-data-source" label="Data source" error={fe('data_source')}>
          {(a) => (
            <select {...a} value={f.data_source} onChange={set('data_source')}>
              <option value="Flink">Flink</option>
              <option value="FlinkServiceData">FlinkServiceData</option>
            </select>
          )}
        </Field>
        <Field id="r-path-type" label="Path type" error={fe('path_type')}>
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
            <Field id="r-nameservice" label="Source NameService name" error={fe('nameservice')}>
              {(a) => <input {...a} value={f.nameservice} onInput={set('nameservice')} />}
            </Field>
          )}
          {pt === 'RemoteHDFS' && (
            <>
              <Field id="r-ip-mode" label="IP mode" error={fe('ip_mode')}>
                {(a) => (
                  <select {...a} value={f.ip_mode} onChange={set('ip_mode')}>
                    <option value="auto">auto (from the address)</option>
                    <option value="IPv4">IPv4</option>
                    <option value="IPv6">IPv6</option>
                  </select>
                )}
              </Field>
              <Field id="r-namenode-ip" label="Source NameNode IP address" error={fe('namenode_ip')} hint="Active or standby NameNode of the standby cluster; a port may follow.">
                {(a) => <input {...a} value={f.namenode_ip} onInput={set('namenode_ip')} />}
              </Field>
            </>
          )}
          <Field id="r-source-path" label={pathLabel} error={fe('source_path')} hint={pt === 'LocalDir' ? 'Copy it from View History in Backup Management.' : undefined}>
            {(a) => <input {...a} class="mono" value={f.source_path} onInput={set('source_path')} />}
          </Field>
          {pt === 'RemoteHDFS' && (
            <Field id="r-queue" label="Queue name" error={fe('queue')} hint="YARN queue of the local cluster used for the copy.">
              {(a) => <input {...a} value={f.queue} onInput={set('queue')} />}
            </Field>
          )}
        </fieldset>
        {error && (!error.field || !RESTORE_FIELDS.includes(error.field)) && <ErrorText error={error} />}
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

function DetailsDialog({ name, onClose }: { name: string; onClose: () => void }) {
  const [d, setD] = useState<RestoreDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const ticket = useLatest();
  const load = () => {
    const current = ticket();
    return call<RestoreDetail>('GET', `/restore-tasks/${enc(name)}`)
      .then((x) => {
        if (!current()) return;
        setD(x);
        setError(null);
      })
      .catch((e) => current() && setError(e));
  };
  useEffect(() => void load(), []);
  useEvents((kind, ev) => kind === 'restore' && ev.name === name && void load(), []);
  const attempts = d ? d.attempt_history.slice().reverse() : [];
  return (
    <Dialog title={`Restoration ${name}`} onClose={onClose} wide>
      <ErrorText error={error} />
      {d && (
        <>
          <dl class="summary">
            <dt>State</dt>
            <dd>
              <StateBadge state={d.state} />
            </dd>
            <dt>Progress</dt>
            <dd>
              <ProgressBar value={d.progress} state={d.state} label={`Progress of ${name}`} />
            </dd>
            <dt>Recovery object</dt>
            <dd>{d.cluster}</dd>
            <dt>Data source</dt>
            <dd>{d.data_source}</dd>
            <dt>Path type</dt>
            <dd>{d.path_type}</dd>
            <dt>Source path</dt>
            <dd class="mono break">{d.source_path}</dd>
            {d.nameservice && (
              <>
                <dt>NameService</dt>
                <dd>{d.nameservice}</dd>
              </>
            )}
            {d.namenode_ip && (
              <>
                <dt>NameNode</dt>
                <dd>
                  {d.namenode_ip} ({d.ip_mode})
                </dd>
              </>
            )}
            {d.queue && (
              <>
                <dt>Queue</dt>
                <dd>{d.queue}</dd>
              </>
            )}
            {d.error && (
              <>
                <dt>Reason of failure</dt>
                <dd class="error">{d.error}</dd>
              </>
            )}
          </dl>
          {attempts.length === 0 && <p class="empty">Not started yet.</p>}
          {attempts.map((a, i) => (
            <section class="attempt card" aria-labelledby={`att-${a.number}`}>
              <h3 id={`att-${a.number}`}>
                Attempt {a.number} <StateBadge state={a.state} />
              </h3>
              <p class="muted small">
                Started <Time iso={a.started_at} />, ended <Time iso={a.ended_at} empty="—" />
              </p>
              {a.error && <p class="error">{a.error}</p>}
              <p>
                Safety copy: {a.safety_copy ? <code class="break">{a.safety_copy}</code> : <span class="muted">none (nothing was changed before it ended)</span>}
              </p>
              <table class="steps">
                <caption class="sr-only">Steps of attempt {a.number}</caption>
                <thead>
                  <tr>
                    <th scope="col">Step</th>
                    <th scope="col">Status</th>
                    <th scope="col">Started</th>
                    <th scope="col">Ended</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {a.steps.map((s) => (
                    <tr>
                      <td>{s.name}</td>
                      <td>
                        <span class={`step step-${s.status}`}>{s.status}</span>
                      </td>
                      <td>
                        <Time iso={s.started_at} />
                      </td>
                      <td>
                        <Time iso={s.ended_at} />
                      </td>
                      <td class="break">{s.detail}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {(() => {
                // Older daemons sent only the latest attempt's log, at the top level.
                const log = a.log ?? (i === 0 ? d.log : []);
                return (
                <>
                  <h4>Log</h4>
                  {log.length === 0 ? (
                    <p class="muted">No log lines.</p>
                  ) : (
                    <ol class="log" aria-label={`Log of attempt ${a.number}`}>
                      {log.map((l) => (
                        <li class={`log-${l.level}`}>
                          <Time iso={l.at} /> <span class="lvl">{l.level}</span> {l.text}
                        </li>
                      ))}
                    </ol>
                  )}
                </>
                );
              })()}
            </section>
          ))}
        </>
      )}
    </Dialog>
  );
}
