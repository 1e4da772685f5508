import { useEffect, useState } from 'preact/hooks';
import { ApiError, type BackupRecord, type BackupTask, call, enc, type Page, type ProgressDetail, type VerifyResult } from '../api';
import { Confirm, Dialog, ErrorText, PagedList, PageTop, ProgressBar, RowBelow, StateBadge, Table, Time, TimeCell } from '../components';
import { useEvents } from '../events';
import { ClusterField, CreateForm, DataSourceField, onHdfs, PathParameters, type PathType, PathTypeField, SelectField, taskBody, TextField, useCreateForm } from '../fields';
import { bytes, period } from '../format';
import { useClusters, usePaged } from '../resource';
import { CreateRestoreDialog } from './restores';

// What an action on a backup task's row asks first, or shows after.
type Pending = { kind: 'delete'; task: BackupTask } | { kind: 'verify'; task: BackupTask };

export function BackupsPage({ canOperate }: { canOperate: boolean }) {
  const tasks = usePaged<BackupTask>('/backup-tasks');
  const [rowError, setRowError] = useState<{ task: string; error: ApiError } | null>(null);
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [history, setHistory] = useState<BackupTask | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  // The progress of running backups, by task, as the event stream reports it (the task list has
  // only the last run's status).
  const [live, setLive] = useState<Record<string, { id: number; progress: number; progress_detail?: ProgressDetail | null }>>({});
  useEvents(
    (kind, d) => {
      if (kind !== 'backup') return;
      setLive((m) => ({ ...m, [d.task]: { id: d.id, progress: d.progress ?? 0, progress_detail: d.progress_detail ?? null } }));
      void tasks.reload();
    },
    [tasks.offset],
  );

  // Runs a row's action; its error shows under the row, what it did above the list.
  const act = async (t: BackupTask, what: () => Promise<unknown>, done: string) => {
    setRowError(null);
    setNotice('');
    try {
      await what();
      setNotice(done);
      tasks.reload();
    } catch (e) {
      setRowError({ task: t.name, error: e as ApiError });
    }
  };

  return (
    <section aria-label="Backup tasks">
      <PageTop
        intro="Backup tasks and the records of their runs. Restore a record from a task's history."
        error={tasks.error}
        notice={notice}
      >
        {canOperate && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create backup task
          </button>
        )}
      </PageTop>
      <PagedList list={tasks} what="backup tasks" empty={`No backup tasks yet.${canOperate ? ' Create one to back up a cluster.' : ''}`}>
        {(items) => (
          <Table
            wrap
            actions
            class="cards"
            caption="Backup tasks"
            columns={['Name', 'Cluster', 'Data source', 'Path type', 'Mode', 'Last run', ['Status', 'col-progress'], 'Next run']}
          >
            {items.map((t) => {
              const running = t.last_run?.status === 'Running';
              const progress = running && live[t.name]?.id === t.last_run?.id ? live[t.name] : null;
              return (
                <>
                  <tr key={t.name} data-task={t.name} data-status={t.last_run?.status ?? 'never'}>
                    <th scope="row">{t.name}</th>
                    <td>{t.cluster}</td>
                    <td>{t.data_source}</td>
                    <td>{t.path_type}</td>
                    <td>{t.mode === 'periodic' ? `${period(t.period_seconds)}${t.suspended ? ' (suspended)' : ''}` : 'manual'}</td>
                    <TimeCell iso={t.last_run?.started_at} empty="never" />
                    <td>
                      {t.last_run ? <StateBadge state={t.last_run.status} /> : <span class="muted">—</span>}
                      {running && (
                        <ProgressBar value={progress?.progress ?? 0} state="Running" detail={progress?.progress_detail} label={`Progress of ${t.name}`} />
                      )}
                    </td>
                    <td>{t.mode === 'periodic' && !t.suspended ? <Time iso={t.next_run} /> : <span class="muted">—</span>}</td>
                    <td class="row-actions">
                      {canOperate && (
                        <button
                          type="button"
                          class="primary"
                          aria-label={`Run ${t.name} now`}
                          disabled={running}
                          title={running ? 'A run of this task is under way.' : undefined}
                          onClick={() =>
                            act(t, () => call('POST', `/backup-tasks/${enc(t.name)}/run`), `Started a run of ${t.name}; its status shows in its row.`)
                          }
                        >
                          Run now
                        </button>
                      )}
                      <button type="button" aria-label={`View history of ${t.name}`} onClick={() => setHistory(t)}>
                        View History
                      </button>
                      {canOperate && (
                        <button type="button" aria-label={`Verify the newest backup of ${t.name}`} onClick={() => setPending({ kind: 'verify', task: t })}>
                          Verify
                        </button>
                      )}
                      {canOperate && t.mode === 'periodic' && (
                        <button
                          type="button"
                          aria-label={`${t.suspended ? 'Resume' : 'Suspend'} ${t.name}`}
                          onClick={() =>
                            act(
                              t,
                              () => call('POST', `/backup-tasks/${enc(t.name)}/${t.suspended ? 'resume' : 'suspend'}`),
                              t.suspended ? `Resumed ${t.name}: it runs again on its schedule.` : `Suspended ${t.name}: it does not run on its schedule until resumed.`,
                            )
                          }
                        >
                          {t.suspended ? 'Resume' : 'Suspend'}
                        </button>
                      )}
                      {canOperate && (
                        <button
                          type="button"
                          class="danger-quiet"
                          aria-label={`Delete ${t.name}`}
                          disabled={running}
                          title={running ? 'A run of this task is under way.' : undefined}
                          onClick={() => setPending({ kind: 'delete', task: t })}
                        >
                          Delete
                        </button>
                      )}
                    </td>
                  </tr>
                  {rowError?.task === t.name && (
                    <RowBelow class="row-error" span={9} errorOf={t.name}>
                      <ErrorText error={rowError.error} />
                    </RowBelow>
                  )}
                </>
              );
            })}
          </Table>
        )}
      </PagedList>
      {creating && (
        <CreateBackupDialog
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setNotice(`Backup task ${name} created.`);
            tasks.reload();
          }}
        />
      )}
      {history && <HistoryDialog task={history} canOperate={canOperate} onClose={() => setHistory(null)} />}
      {pending?.kind === 'delete' && (
        <Confirm
          title={`Delete backup task ${pending.task.name}?`}
          confirmLabel="Delete task"
          danger
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await call('DELETE', `/backup-tasks/${enc(pending.task.name)}`);
            setNotice(`Backup task ${pending.task.name} deleted.`);
            tasks.reload();
          }}
        >
          <p>
            The task <strong>{pending.task.name}</strong> and its schedule are deleted. Its backup files are not: restorations can still be created from
            their paths.
          </p>
        </Confirm>
      )}
      {pending?.kind === 'verify' && <VerifyDialog task={pending.task} onClose={() => setPending(null)} />}
    </section>
  );
}

// Reads the newest Succeeded backup file of a task back and checks every checksum of its manifest
// (POST /backup-records/{id}/verify); shows what it found or why it failed.
function VerifyDialog({ task, onClose }: { task: BackupTask; onClose: () => void }) {
  const [state, setState] = useState<{ record?: BackupRecord; result?: VerifyResult; error?: ApiError | string }>({});
  useEffect(() => {
    (async () => {
      try {
        let record: BackupRecord | undefined;
        // Newest first, a page at a time: the newest success may sit behind failures.
        for (let offset = 0; !record; offset += 100) {
          const page = await call<Page<BackupRecord>>('GET', `/backup-tasks/${enc(task.name)}/records?limit=100&offset=${offset}`);
          record = page.items.find((r) => r.status === 'Succeeded');
          if (page.items.length < 100) break;
        }
        if (!record) return setState({ error: `${task.name} has no Succeeded backup to verify.` });
        setState({ record });
        const result = await call<VerifyResult>('POST', `/backup-records/${record.id}/verify`);
        setState({ record, result });
      } catch (e) {
        setState((s) => ({ ...s, error: e as ApiError }));
      }
    })();
  }, []);
  const { record, result, error } = state;
  return (
    <Dialog title={`Verify the newest backup of ${task.name}`} onClose={onClose}>
      {record && (
        <p>
          Record {record.id}, <Time iso={record.started_at} />: <code class="break">{record.backup_path}</code>
        </p>
      )}
      {!result && !error && (
        <p role="status" class="muted">
          Reading the file and checking every checksum…
        </p>
      )}
      {error && (
        <div data-testid="verify-result" data-ok="false">
          <ErrorText error={error} />
        </div>
      )}
      {result && (
        <div data-testid="verify-result" data-ok="true">
          <p class="notice" role="status">
            The backup file is intact: every checksum of its manifest matches.
          </p>
          <dl>
            <dt>Size</dt>
            <dd>{bytes(result.file_size)}</dd>
            <dt>Checksum</dt>
            <dd class="mono break">{result.checksum}</dd>
            <dt>Cluster</dt>
            <dd>{result.cluster}</dd>
            <dt>System version</dt>
            <dd>{result.system_version}</dd>
            <dt>Sources</dt>
            <dd>
              <ul class="plain">
                {result.sources.map((s) => (
                  <li>
                    {s.name} ({s.kind}): {s.entries} entries, {bytes(s.bytes)}
                  </li>
                ))}
              </ul>
            </dd>
          </dl>
        </div>
      )}
      <div class="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

// The fields of the form that the daemon names in its errors; an error on any other is shown
// under the form.
const BACKUP_FIELDS = ['name', 'cluster', 'data_source', 'path_type', 'path', 'nameservice', 'namenode_ip', 'max_copies', 'period', 'start_time', 'mode'];

const MODES: [string, string][] = [['manual', 'Manual'], ['periodic', 'Periodic']];

function CreateBackupDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (name: string) => void }) {
  const { clusters, error: clusterError } = useClusters();
  const form = useCreateForm(
    {
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
    },
    clusters,
  );
  const { f, set, field } = form;
  const pt = f.path_type;

  const send = async () => {
    const body: Record<string, unknown> = taskBody(f);
    if (f.path) body.path = f.path;
    if (onHdfs(pt)) body.nameservice = f.nameservice;
    if (pt === 'RemoteHDFS') body.namenode_ip = f.namenode_ip;
    if (f.max_copies !== '') body.max_copies = Number(f.max_copies);
    if (f.verify) body.verify = true;
    if (f.mode === 'periodic') {
      body.period = f.period;
      if (f.start_time) body.start_time = new Date(f.start_time).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    await call('POST', '/backup-tasks', body);
    onCreated(f.name);
  };

  return (
    <CreateForm title="Create backup task" form={form} fields={BACKUP_FIELDS} send={send} onClose={onClose}>
      <ErrorText error={clusterError} />
      <TextField id="b-name" label="Task name" hint="Letters, digits, '.', '_' and '-'." {...field('name')} required autocomplete="off" autoFocus />
      <ClusterField id="b-cluster" label="Cluster" form={form} clusters={clusters} />
      <DataSourceField id="b-data-source" form={form} explained />
      <PathTypeField id="b-path-type" form={form} />
      <PathParameters pathType={pt} nameservice={{ id: 'b-nameservice', label: 'NameService name' }} form={form}>
        {pt === 'RemoteHDFS' && <TextField id="b-namenode-ip" label="NameNode IP address" hint="IPv4 or IPv6, optionally with :port." {...field('namenode_ip')} />}
        <TextField
          id="b-path"
          label={pt === 'OBS' ? 'Bucket and prefix' : pt === 'LocalDir' ? 'Backup directory' : 'HDFS backup directory'}
          hint={pt === 'LocalDir' ? 'Leave empty for <state_dir>/LocalBackup.' : pt === 'OBS' ? 'bucket/prefix' : undefined}
          {...field('path')}
        />
      </PathParameters>
      <fieldset>
        <legend>Schedule and retention</legend>
        <SelectField id="b-mode" label="Mode" {...field('mode')} options={MODES} />
        {f.mode === 'periodic' && (
          <>
            <TextField id="b-period" label="Period" hint="A number and s, m, h or d, e.g. 1d." {...field('period')} />
            <TextField id="b-start-time" label="First run (your time zone)" hint="Empty: now." {...field('start_time')} type="datetime-local" step={1} />
          </>
        )}
        <TextField id="b-max-copies" label="Maximum backup copies" hint="Empty or 0 keeps all." {...field('max_copies')} type="number" min={0} />
        <div class="check">
          <input id="b-verify" type="checkbox" checked={f.verify} onChange={set('verify')} />
          <label for="b-verify">Verify each new backup file after writing it</label>
        </div>
      </fieldset>
    </CreateForm>
  );
}

function HistoryDialog({ task, canOperate, onClose }: { task: BackupTask; canOperate: boolean; onClose: () => void }) {
  const records = usePaged<BackupRecord>(`/backup-tasks/${enc(task.name)}/records`);
  const [view, setView] = useState<BackupRecord | null>(null);
  const [restoreFrom, setRestoreFrom] = useState<BackupRecord | null>(null);
  const [created, setCreated] = useState('');
  const { clusters } = useClusters();
  useEvents(
    (kind, d) => {
      if (kind !== 'backup' || d.task !== task.name) return;
      // Progress of a running record from the event; a record that ended is read again.
      records.setData((p) => {
        if (!p) return p;
        const i = p.items.findIndex((r) => r.id === d.id);
        if (i < 0) return p;
        const items = p.items.slice();
        items[i] = { ...items[i], status: d.status, progress: d.progress ?? items[i].progress, progress_detail: d.progress_detail ?? null };
        return { ...p, items };
      });
      if (d.status !== 'Running') void records.reload();
      else if (!records.data?.items.some((r) => r.id === d.id)) void records.reload();
    },
    [records.offset, records.data],
  );

  return (
    <Dialog title={`History of ${task.name}`} onClose={onClose} wide>
      <ErrorText error={records.error} />
      {created && (
        <p class="notice" role="status">
          Restoration task {created} created. <a href="#/restores" onClick={onClose}>Open Restoration Management</a> to start it.
        </p>
      )}
      <PagedList list={records} what="records" empty="This task has not run yet.">
        {(items) => (
          <Table actions class="cards" caption={`Backup records of ${task.name}, newest first`} columns={[['Status', 'col-progress'], 'Started', 'Ended', 'Size']}>
            {items.map((r) => (
              <tr data-record={r.id} data-status={r.status}>
                <td>
                  <StateBadge state={r.status} />
                  {r.status === 'Running' && <ProgressBar value={r.progress} state="Running" detail={r.progress_detail} label={`Progress of record ${r.id}`} />}
                  {r.status === 'Failed' && r.error && <div class="error small">{r.error}</div>}
                </td>
                <TimeCell iso={r.started_at} />
                <TimeCell iso={r.ended_at} />
                <td>{r.status === 'Succeeded' || r.status === 'Removed' ? bytes(r.size) : '—'}</td>
                <td class="row-actions">
                  <button type="button" aria-label={`View record ${r.id}`} onClick={() => setView(r)}>
                    View
                  </button>
                  {canOperate && r.status === 'Succeeded' && (
                    <button type="button" class="primary" aria-label={`Restore record ${r.id}`} onClick={() => setRestoreFrom(r)}>
                      Restore
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </PagedList>
      {view && <RecordView record={view} />}
      {restoreFrom && (
        <CreateRestoreDialog
          clusters={clusters}
          from={{ record: restoreFrom, task }}
          onClose={() => setRestoreFrom(null)}
          onCreated={(name) => {
            setRestoreFrom(null);
            setCreated(name);
          }}
        />
      )}
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
