import { useState } from 'preact/hooks';
import { ApiError, type BackupRecord, type BackupTask, call, enc } from '../api';
import { Dialog, ErrorText, PagedList, PageTop, RowBelow, StateBadge, Table, Time, TimeCell } from '../components';
import { useEvents } from '../events';
import { ClusterField, CreateForm, DataSourceField, onHdfs, PathParameters, type PathType, PathTypeField, SelectField, taskBody, TextField, useCreateForm } from '../fields';
import { bytes, period } from '../format';
import { useClusters, usePaged } from '../resource';

export function BackupsPage({ canOperate }: { canOperate: boolean }) {
  const tasks = usePaged<BackupTask>('/backup-tasks');
  const [rowError, setRowError] = useState<{ task: string; error: ApiError } | null>(null);
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [history, setHistory] = useState<string | null>(null);
  useEvents((kind) => kind === 'backup' && void tasks.reload(), [tasks.offset]);

  return (
    <section aria-label="Backup tasks">
      <PageTop
        intro="Backup tasks and the records of their runs. A record's backup path goes into a restoration task."
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
            caption="Backup tasks"
            columns={['Name', 'Cluster', 'Data source', 'Path type', 'Mode', 'Last run', 'Status', 'Next run']}
          >
            {items.map((t) => (
              <>
                <tr key={t.name} data-task={t.name}>
                  <th scope="row">{t.name}</th>
                  <td>{t.cluster}</td>
                  <td>{t.data_source}</td>
                  <td>{t.path_type}</td>
                  <td>{t.mode === 'periodic' ? `${period(t.period_seconds)}${t.suspended ? ' (suspended)' : ''}` : 'manual'}</td>
                  <TimeCell iso={t.last_run?.started_at} empty="never" />
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
                            tasks.reload();
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
                  <RowBelow class="row-error" span={9}>
                    <ErrorText error={rowError.error} />
                  </RowBelow>
                )}
              </>
            ))}
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
      {history && <HistoryDialog task={history} onClose={() => setHistory(null)} />}
    </section>
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

function HistoryDialog({ task, onClose }: { task: string; onClose: () => void }) {
  const records = usePaged<BackupRecord>(`/backup-tasks/${enc(task)}/records`);
  const [view, setView] = useState<BackupRecord | null>(null);
  useEvents((kind, d) => kind === 'backup' && d.task === task && void records.reload(), [records.offset]);

  return (
    <Dialog title={`History of ${task}`} onClose={onClose} wide>
      <ErrorText error={records.error} />
      <PagedList list={records} what="records" empty="This task has not run yet.">
        {(items) => (
          <Table actions caption={`Backup records of ${task}, newest first`} columns={['Status', 'Started', 'Ended', 'Size']}>
            {items.map((r) => (
              <tr data-record={r.id}>
                <td>
                  <StateBadge state={r.status} />
                  {r.status === 'Running' && <span class="muted"> {r.progress}%</span>}
                  {r.status === 'Failed' && r.error && <div class="error small">{r.error}</div>}
                </td>
                <TimeCell iso={r.started_at} />
                <TimeCell iso={r.ended_at} />
                <td>{r.status === 'Succeeded' || r.status === 'Removed' ? bytes(r.size) : '—'}</td>
                <td>
                  <button type="button" aria-label={`View record ${r.id}`} onClick={() => setView(r)}>
                    View
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </PagedList>
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
