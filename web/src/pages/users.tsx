import { useState } from 'preact/hooks';
import { type ApiError, call, enc, type Me, type Role, type User } from '../api';
import { Confirm, Dialog, ErrorText, PageTop, Table, TimeCell } from '../components';
import { CreateForm, SelectField, TextField, useCreateForm } from '../fields';
import { useResource } from '../resource';

const ROLES: [Role, string][] = [
  ['viewer', 'viewer (reads everything)'],
  ['operator', 'operator (runs backups and restorations)'],
  ['administrator', 'administrator (everything, plus users and the audit log)'],
];

type Pending = { kind: 'delete' | 'password' | 'role'; user: User };

// Administrators only (the API refuses the others; the console does not offer the page to them).
export function UsersPage({ me }: { me: Me }) {
  const users = useResource<{ items: User[] }>('/users');
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [pending, setPending] = useState<Pending | null>(null);
  const done = (text: string) => {
    setNotice(text);
    users.reload();
  };
  return (
    <section aria-label="Users">
      <PageTop intro="Who may log in, and with which role. Passwords are stored as Argon2id hashes." error={users.error} notice={notice}>
        {me.role === 'administrator' && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create user
          </button>
        )}
      </PageTop>
      {users.data && (
        <Table wrap actions class="cards" caption="Users" columns={['Name', 'Role', 'Created']}>
          {users.data.items.map((u) => {
            const self = u.name === me.name;
            return (
              <tr data-user={u.name}>
                <th scope="row">
                  {u.name}
                  {self && <span class="muted"> (you)</span>}
                </th>
                <td>{u.role}</td>
                <TimeCell iso={u.created_at} />
                <td class="row-actions">
                  {/* Your own role and account are not yours to change here: no administrator
                      locks the last administrator out by a slip. */}
                  {!self && (
                    <button type="button" aria-label={`Change the role of ${u.name}`} onClick={() => setPending({ kind: 'role', user: u })}>
                      Change role
                    </button>
                  )}
                  {!self && (
                    <button type="button" aria-label={`Reset the password of ${u.name}`} onClick={() => setPending({ kind: 'password', user: u })}>
                      Reset password
                    </button>
                  )}
                  {!self && (
                    <button type="button" class="danger-quiet" aria-label={`Delete ${u.name}`} onClick={() => setPending({ kind: 'delete', user: u })}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </Table>
      )}
      {creating && (
        <CreateUserDialog
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            done(`User ${name} created.`);
          }}
        />
      )}
      {pending?.kind === 'delete' && (
        <Confirm
          title={`Delete user ${pending.user.name}?`}
          confirmLabel="Delete user"
          danger
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await call('DELETE', `/users/${enc(pending.user.name)}`);
            done(`User ${pending.user.name} deleted.`);
          }}
        >
          <p>
            <strong>{pending.user.name}</strong> can no longer log in, and their sessions and tokens end now. The audit log keeps what they did.
          </p>
        </Confirm>
      )}
      {pending?.kind === 'role' && <RoleDialog user={pending.user} onClose={() => setPending(null)} onDone={done} />}
      {pending?.kind === 'password' && <ResetPasswordDialog user={pending.user} onClose={() => setPending(null)} onDone={done} />}
    </section>
  );
}

const USER_FIELDS = ['name', 'role', 'password'];

function CreateUserDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (name: string) => void }) {
  // useCreateForm fills in a cluster for the task forms; a user has none ('-' and no clusters
  // keep it from doing so, and it is never sent).
  const form = useCreateForm({ name: '', role: 'viewer', password: '', cluster: '-' }, []);
  const { f, field } = form;
  return (
    <CreateForm
      title="Create user"
      form={form}
      fields={USER_FIELDS}
      send={async () => {
        await call('POST', '/users', { name: f.name, role: f.role, password: f.password });
        onCreated(f.name);
      }}
      onClose={onClose}
    >
      <TextField id="u-name" label="User name" hint="Letters, digits, '.', '_' and '-'." {...field('name')} autocomplete="off" autoFocus />
      <SelectField id="u-role" label="Role" {...field('role')} options={ROLES} />
      <TextField id="u-password" label="Password" hint="At least 8 characters." {...field('password')} type="password" autocomplete="new-password" />
    </CreateForm>
  );
}

// A small form in a dialog: one submit, the daemon's refusal shown in it.
function useSubmit(run: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await run();
    } catch (err) {
      setError(err as ApiError);
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

function RoleDialog({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: (text: string) => void }) {
  const [role, setRole] = useState<string>(user.role);
  const s = useSubmit(async () => {
    await call('POST', `/users/${enc(user.name)}/role`, { role });
    onClose();
    onDone(`${user.name} is now ${role === 'administrator' ? 'an' : 'a'} ${role}.`);
  });
  return (
    <Dialog title={`Change the role of ${user.name}`} onClose={onClose}>
      <form noValidate onSubmit={s.submit}>
        <SelectField id="role-new" label="Role" value={role} set={(e) => setRole((e.currentTarget as HTMLSelectElement).value)} options={ROLES} />
        <p class="muted small">The new role applies to the user's next request, also in sessions already open.</p>
        <ErrorText error={s.error} />
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={s.busy || role === user.role}>
            Change role
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ResetPasswordDialog({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: (text: string) => void }) {
  const [password, setPassword] = useState('');
  const s = useSubmit(async () => {
    await call('POST', `/users/${enc(user.name)}/password`, { password });
    onClose();
    onDone(`The password of ${user.name} was reset; their sessions ended.`);
  });
  return (
    <Dialog title={`Reset the password of ${user.name}`} onClose={onClose}>
      <form noValidate onSubmit={s.submit}>
        <TextField
          id="reset-password"
          label="New password"
          hint="At least 8 characters. Their open sessions end."
          value={password}
          set={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
          error={s.error?.field === 'password' ? s.error.message : undefined}
          type="password"
          autocomplete="new-password"
          autoFocus
        />
        {s.error?.field !== 'password' && <ErrorText error={s.error} />}
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={s.busy}>
            Reset password
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// Every user changes their own password with the one they have (POST /auth/password).
export function ChangeMyPasswordDialog({ onClose, onDone }: { onClose: () => void; onDone: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const s = useSubmit(async () => {
    await call('POST', '/auth/password', { current_password: current, new_password: next });
    onClose();
    onDone();
  });
  const fieldError = (f: string) => (s.error?.field === f ? s.error.message : undefined);
  return (
    <Dialog title="Change my password" onClose={onClose}>
      <form noValidate onSubmit={s.submit}>
        <TextField
          id="my-current-password"
          label="Current password"
          value={current}
          set={(e) => setCurrent((e.currentTarget as HTMLInputElement).value)}
          error={fieldError('current_password')}
          type="password"
          autocomplete="current-password"
          autoFocus
        />
        <TextField
          id="my-new-password"
          label="New password"
          hint="At least 8 characters. Your other sessions end; this one stays."
          value={next}
          set={(e) => setNext((e.currentTarget as HTMLInputElement).value)}
          error={fieldError('new_password')}
          type="password"
          autocomplete="new-password"
        />
        {s.error && !['current_password', 'new_password'].includes(s.error.field ?? '') && <ErrorText error={s.error} />}
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={s.busy}>
            Change password
          </button>
        </div>
      </form>
    </Dialog>
  );
}
