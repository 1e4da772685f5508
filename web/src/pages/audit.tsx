import { useState } from 'preact/hooks';
import type { AuditEntry } from '../api';
import { PagedList, PageTop, Table, TimeCell } from '../components';
import { usePaged } from '../resource';

// Administrators only: who did what, newest first, a page at a time, filtered by user and by
// action (the API's exact-match user= and action= parameters).
export function AuditPage() {
  const [user, setUser] = useState('');
  const [action, setAction] = useState('');
  const [applied, setApplied] = useState({ user: '', action: '' });
  const query = new URLSearchParams();
  if (applied.user) query.set('user', applied.user);
  if (applied.action) query.set('action', applied.action);
  const q = query.toString();
  const list = usePaged<AuditEntry>(`/audit${q ? `?${q}` : ''}`);
  return (
    <section aria-label="Audit log">
      <PageTop intro="Every change and every login, newest first. Passwords and tokens never appear here." error={list.error} notice="" />
      <form
        class="filters"
        role="search"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          list.setOffset(0);
          setApplied({ user: user.trim(), action: action.trim() });
        }}
      >
        <div class="field">
          <label for="audit-user">User</label>
          <input id="audit-user" value={user} onInput={(e) => setUser(e.currentTarget.value)} autocomplete="off" />
        </div>
        <div class="field">
          <label for="audit-action">Action</label>
          <input id="audit-action" value={action} placeholder="e.g. backup.run" onInput={(e) => setAction(e.currentTarget.value)} autocomplete="off" />
        </div>
        <button type="submit">Filter</button>
      </form>
      <PagedList list={list} what="entries" empty={q ? 'No entries match the filter.' : 'No entries.'}>
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
