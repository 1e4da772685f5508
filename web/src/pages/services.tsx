import { useState } from 'preact/hooks';
import { call, type Cluster, enc } from '../api';
import { Confirm, PageTop, Table } from '../components';
import { useEvents } from '../events';
import { useClusters } from '../resource';

export function ServicesPage({ canOperate }: { canOperate: boolean }) {
  const { clusters, error, reload } = useClusters();
  const [pending, setPending] = useState<{ cluster: Cluster; action: 'stop' | 'start' } | null>(null);
  const [notice, setNotice] = useState('');
  useEvents((kind) => (kind === 'service' || kind === 'restore') && void reload(), []);

  return (
    <section aria-label="Flink services">
      <PageTop
        intro="The Flink service of each managed cluster. A restoration needs it stopped; start it again afterwards."
        error={error}
        notice={notice}
      >
        <button type="button" onClick={() => reload()}>
          Refresh
        </button>
      </PageTop>
      <Table
        wrap
        class="cards"
        actions
        caption="Clusters and their Flink service"
        columns={['Cluster', 'System version', 'Flink service', 'Detail', 'Restoration running']}
      >
        {clusters.map((c) => (
          <tr data-cluster={c.name} data-service={c.service.state}>
            <th scope="row">{c.name}</th>
            <td>{c.version || <span class="error">{c.version_error || 'unknown'}</span>}</td>
            <td>
              {/* A running service is the healthy state here: green, unlike a running task. */}
              <span class={`badge svc-${c.service.state}`}>{c.service.state}</span>
            </td>
            <td class="muted">{c.service.detail}</td>
            <td>{c.restore_running ?? <span class="muted">—</span>}</td>
            <td class="row-actions">
              {canOperate && c.service.state !== 'stopped' && (
                <button type="button" class="danger-quiet" onClick={() => setPending({ cluster: c, action: 'stop' })}>
                  Stop
                </button>
              )}
              {canOperate && c.service.state !== 'running' && (
                <button type="button" class="primary" onClick={() => setPending({ cluster: c, action: 'start' })}>
                  Start
                </button>
              )}
            </td>
          </tr>
        ))}
      </Table>
      {pending && (
        <Confirm
          title={`${pending.action === 'stop' ? 'Stop' : 'Start'} the Flink service of ${pending.cluster.name}?`}
          confirmLabel={pending.action === 'stop' ? 'Stop service' : 'Start service'}
          danger={pending.action === 'stop'}
          onClose={() => setPending(null)}
          onConfirm={async () => {
            const r = await call<{ state: string }>('POST', `/clusters/${enc(pending.cluster.name)}/service/${pending.action}`);
            setNotice(`The Flink service of ${pending.cluster.name} is ${r.state}.`);
            reload();
          }}
        >
          {pending.action === 'stop' ? (
            <p>
              Running jobs of <strong>{pending.cluster.name}</strong> stop with the service (their state stays in the last checkpoint). flinkbr waits until the
              service says stopped.
            </p>
          ) : (
            <p>
              flinkbr runs the configured start command for <strong>{pending.cluster.name}</strong> and waits until the service says running.
            </p>
          )}
        </Confirm>
      )}
    </section>
  );
}
