import { useState } from 'preact/hooks';
import { type BackupRecord, type BackupTask, call, type Cluster, enc, type RestoreDetail, type RestoreTask } from '../api';
import { Confirm, Dialog, ErrorText, PagedList, PageTop, ProgressBar, RowBelow, StateBadge, Table, Time, TimeCell } from '../components';
import { useEvents } from '../events';
import { ClusterField, CreateForm, DataSourceField, onHdfs, PathParameters, type PathType, PathTypeField, SelectField, taskBody, TextField, useCreateForm } from '../fields';
import { useClusters, usePaged, useResource } from '../resource';

type Pending =
  | { kind: 'start' | 'retry'; task: RestoreTask }
  | { kind: 'delete'; task: RestoreTask }
  | { kind: 'service'; task: RestoreTask };

export function RestoresPage({ canOperate }: { canOperate: boolean }) {
  const tasks = usePaged<RestoreTask>('/restore-tasks');
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [details, setDetails] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const { clusters, error: clusterError, reload: reloadClusters } = useClusters();
  // Progress arrives on the event stream; a task that reached an end state is read again for
  // its error, and the clusters for their service state.
  useEvents(
    (kind, ev) => {
      if (kind === 'service') return void reloadClusters();
      if (kind !== 'restore') return;
      tasks.setData((d) => {
        if (!d) return d;
        const i = d.items.findIndex((t) => t.name === ev.name);
        if (i < 0) return d;
        const items = d.items.slice();
        // progress_detail: the step and bytes, from daemons that send them.
        items[i] = { ...items[i], state: ev.state, progress: ev.progress, progress_detail: ev.progress_detail ?? null };
        return { ...d, items };
      });
      if (ev.state !== 'Running') {
        tasks.reload();
        reloadClusters();
      }
    },
    [tasks.offset],
  );

  const clusterOf = (name: string) => clusters.find((c) => c.name === name);

  return (
    <section aria-label="Restoration tasks">
      <PageTop
        intro="Each task restores one backup file into one cluster. The Flink service must be stopped while it runs."
        error={tasks.error ?? clusterError}
        notice={notice}
      >
        {canOperate && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create restoration task
          </button>
        )}
      </PageTop>
      <PagedList list={tasks} what="restoration tasks" empty="No restoration tasks.">
        {(items) => (
          <Table
            wrap
            class="cards"
            actions
            caption="Restoration tasks"
            columns={['Name', 'Recovery object', 'Data source', 'Path type', ['Progress', 'col-progress'], 'State', 'Updated']}
          >
            {items.map((t) => {
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
                      <ProgressBar value={t.progress} state={t.state} detail={t.progress_detail} label={`Progress of ${t.name}`} />
                    </td>
                    <td>
                      <StateBadge state={t.state} />
                    </td>
                    <TimeCell iso={t.updated_at} />
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
                      {canOperate && t.state === 'Succeeded' && service && service !== 'running' && (
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
                    <RowBelow class="row-error" span={8} errorOf={t.name}>
                      <p class="error" role="alert">
                        <strong>Failed:</strong> {t.error}
                      </p>
                    </RowBelow>
                  )}
                  {t.state === 'Succeeded' && service && service !== 'running' && (
                    <RowBelow class="row-note" span={8}>
                      Restored. The Flink service of {t.cluster} is {service}
                      {canOperate ? ': start it when you are ready.' : '.'}
                    </RowBelow>
                  )}
                </>
              );
            })}
          </Table>
        )}
      </PagedList>
      {creating && (
        <CreateRestoreDialog
          clusters={clusters}
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setNotice(`Restoration task ${name} created. Start it when the Flink service is stopped.`);
            tasks.reload();
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
            tasks.reload();
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
            tasks.reload();
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

// The fields of the form that the daemon names in its errors; an error on any other is shown
// under the form.
const RESTORE_FIELDS = ['name', 'cluster', 'data_source', 'path_type', 'source_path', 'nameservice', 'ip_mode', 'namenode_ip', 'queue'];

// From a record only these are fields of the form: an error about the record or its file (say,
// the file is gone) shows under the form.
const FROM_RECORD_FIELDS = ['name', 'cluster', 'queue'];

const IP_MODES: [string, string][] = [['auto', 'auto (from the address)'], ['IPv4', 'IPv4'], ['IPv6', 'IPv6']];

// A backup record to restore from (the Restore action of a backup's history): the daemon fills in
// data source, path type and path from the record and its task (from_record); the user names the
// task and may choose another cluster to migrate to.
export type FromRecord = { record: BackupRecord; task: BackupTask };

export function CreateRestoreDialog({
  clusters,
  from,
  onClose,
  onCreated,
}: {
  clusters: Cluster[];
  from?: FromRecord;
  onClose: () => void;
  onCreated: (name: string) => void;
}) {
  const form = useCreateForm(
    {
      name: '',
      cluster: from?.task.cluster ?? clusters[0]?.name ?? '',
      data_source: from?.record.backup_object || from?.task.data_source || 'Flink',
      path_type: (from?.task.path_type ?? 'LocalDir') as PathType,
      source_path: from?.record.backup_path ?? '',
      nameservice: from?.task.nameservice || 'hacluster',
      ip_mode: 'auto',
      namenode_ip: from?.task.namenode_ip ?? '',
      queue: '',
    },
    clusters,
  );
  const { f, field } = form;
  const pt = f.path_type;
  const pathLabel = pt === 'OBS' ? 'Source path (bucket/key)' : pt === 'LocalDir' ? 'Source path (backup file on the manager)' : 'Source path (full HDFS path)';

  const send = async () => {
    if (from) {
      // What the record says is the daemon's to fill in: sending it as well would be refused.
      const body: Record<string, unknown> = { name: f.name, cluster: f.cluster, from_record: from.record.id };
      if (pt === 'RemoteHDFS' && f.queue) body.queue = f.queue;
      await call('POST', '/restore-tasks', body);
      return onCreated(f.name);
    }
    // Exactly the parameters of the path type (product brief, "Parameters of a
    // restoration task by path type").
    const body: Record<string, string> = { ...taskBody(f), source_path: f.source_path };
    if (onHdfs(pt)) body.nameservice = f.nameservice;
    if (pt === 'RemoteHDFS') {
      body.ip_mode = f.ip_mode;
      body.namenode_ip = f.namenode_ip;
      body.queue = f.queue;
    }
    await call('POST', '/restore-tasks', body);
    onCreated(f.name);
  };

  const clusterField = (
    <ClusterField
      id="r-cluster"
      label="Recovery object (cluster)"
      form={form}
      clusters={clusters}
      text={(c) => (
        <>
          {c.name} (version {c.version || 'unknown'})
          {from && c.name !== from.task.cluster ? ' (migrate)' : ''}
        </>
      )}
    />
  );

  if (from)
    return (
      <CreateForm title="Create restoration task" form={form} fields={FROM_RECORD_FIELDS} send={send} onClose={onClose}>
        <TextField id="r-name" label="Task name" hint="Letters, digits, '.', '_' and '-'." {...field('name')} autocomplete="off" autoFocus />
        {clusterField}
        <fieldset class="from-record">
          <legend>From backup record {from.record.id}</legend>
          <dl>
            <dt>Backup task</dt>
            <dd>
              {from.task.name} (cluster {from.task.cluster})
            </dd>
            <dt>Data source</dt>
            <dd data-testid="from-data-source">{f.data_source}</dd>
            <dt>Path type</dt>
            <dd data-testid="from-path-type">{pt}</dd>
            <dt>Backup file</dt>
            <dd class="mono break" data-testid="from-path">
              {from.record.backup_path}
            </dd>
          </dl>
        </fieldset>
        {pt === 'RemoteHDFS' && <TextField id="r-queue" label="Queue name" hint="YARN queue of the local cluster used for the copy." {...field('queue')} />}
      </CreateForm>
    );

  return (
    <CreateForm title="Create restoration task" form={form} fields={RESTORE_FIELDS} send={send} onClose={onClose}>
      <TextField id="r-name" label="Task name" hint="Letters, digits, '.', '_' and '-'." {...field('name')} autocomplete="off" autoFocus />
      {clusterField}
      <DataSourceField id="r-data-source" form={form} />
      <PathTypeField id="r-path-type" form={form} />
      <PathParameters pathType={pt} nameservice={{ id: 'r-nameservice', label: 'Source NameService name' }} form={form}>
        {pt === 'RemoteHDFS' && (
          <>
            <SelectField id="r-ip-mode" label="IP mode" {...field('ip_mode')} options={IP_MODES} />
            <TextField
              id="r-namenode-ip"
              label="Source NameNode IP address"
              hint="Active or standby NameNode of the standby cluster; a port may follow."
              {...field('namenode_ip')}
            />
          </>
        )}
        <TextField
          id="r-source-path"
          label={pathLabel}
          hint={pt === 'LocalDir' ? 'Or use Restore in the history of a backup task.' : undefined}
          {...field('source_path')}
          class="mono"
        />
        {pt === 'RemoteHDFS' && <TextField id="r-queue" label="Queue name" hint="YARN queue of the local cluster used for the copy." {...field('queue')} />}
      </PathParameters>
    </CreateForm>
  );
}

function DetailsDialog({ name, onClose }: { name: string; onClose: () => void }) {
  const { data: d, error, reload } = useResource<RestoreDetail>(`/restore-tasks/${enc(name)}`);
  useEvents((kind, ev) => kind === 'restore' && ev.name === name && void reload(), []);
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
              <ProgressBar value={d.progress} state={d.state} detail={d.progress_detail} label={`Progress of ${name}`} />
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
              <Table class="steps" caption={`Steps of attempt ${a.number}`} columns={['Step', 'Status', 'Started', 'Ended', 'Detail']}>
                {a.steps.map((s) => (
                  <tr>
                    <td>{s.name}</td>
                    <td>
                      <span class={`step step-${s.status}`}>{s.status}</span>
                    </td>
                    <TimeCell iso={s.started_at} />
                    <TimeCell iso={s.ended_at} />
                    <td class="break">{s.detail}</td>
                  </tr>
                ))}
              </Table>
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
