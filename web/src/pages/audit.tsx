import type { AuditEntry } from '../api';
import { PagedList, PageTop, Table, TimeCell } from '../components';
import { usePaged } from '../resource';

// Administrators only: who did what, newest first, a page at a time. (GET /audit has no filter
// by user or action yet; the console offers none rather than filter one page in the browser.)
export function AuditPage() {
  const list = usePaged<AuditEntry>('/audit');
  return (
    <section aria-label="Audit log">
      <PageTop intro="Every change and every login, newest first. Passwords and tokens never appear here." error={list.error} notice="" />
      <PagedList list={list} what="entries" empty="No entries.">
        {(items) => (
          <Table wrap class="cards" caption="Audit log, newest first" columns={['When', 'User', 'Action', 'Target', 'Outcome', 'Detail']}>
            {items.map((e) => (
              <tr data-audit={e.id}>
                <TimeCell iso={e.at} />
                <td>{e.user}</td>
                <td class="mono">{e.action}</td>
                <td class="break">{e.target}</td>
                <td>{e.outcome}</td>
                <td class="break small">{e.detail}</td>
              </tr>
            ))}
          </Table>
        )}
      </PagedList>
    </section>
  );
}
