// The REST API as the console uses it (docs/openapi.yaml). The session token lives in an
// HttpOnly cookie the page cannot read; every state-changing call carries the session's
// anti-CSRF token in X-Flinkbr-CSRF (docs/design.md, "Console sessions").

export type Role = 'viewer' | 'operator' | 'administrator';
export interface Me {
  name: string;
  role: Role;
  csrf_token?: string;
}

export interface ServiceStatus {
  state: 'running' | 'stopped' | 'unknown';
  detail: string;
}
export interface Source {
  name: string;
  kind: string;
  location: string;
}
export interface Cluster {
  name: string;
  version: string;
  version_error?: string;
  metadata: Source[];
  service_data: Source[];
  service: ServiceStatus;
  restore_running: string | null;
}
export interface LastRun {
  id: number;
  status: string;
  started_at: string | null;
  ended_at: string | null;
}
export interface BackupTask {
  name: string;
  cluster: string;
  data_source: string;
  path_type: string;
  path: string;
  nameservice: string;
  namenode_ip: string;
  max_copies: number;
  mode: 'manual' | 'periodic';
  period_seconds: number;
  next_run: string | null;
  suspended: boolean;
  created_at: string | null;
  last_run: LastRun | null;
}
// How far a running backup or restoration is, when the daemon says (progress_detail in the task
// JSON and in its events): the step under way and the bytes of the file. Absent from older
// daemons: the console then shows the percentage only.
export interface ProgressDetail {
  step?: string;
  bytes_done?: number;
  bytes_total?: number;
  bytes_per_second?: number;
}
export interface BackupRecord {
  id: number;
  task: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  size: number;
  checksum: string;
  backup_object: string;
  backup_path: string;
  system_version: string;
  error: string;
  progress: number;
  progress_detail?: ProgressDetail | null;
}
export type RestoreState = 'Created' | 'Running' | 'Succeeded' | 'Failed';
export interface RestoreTask {
  name: string;
  cluster: string;
  data_source: string;
  path_type: string;
  source_path: string;
  nameservice: string;
  ip_mode: string;
  namenode_ip: string;
  queue: string;
  state: RestoreState;
  progress: number;
  progress_detail?: ProgressDetail | null;
  error?: string;
  attempts: number;
  created_at: string | null;
  updated_at: string | null;
}
export interface Step {
  name: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  detail: string;
}
export interface Attempt {
  number: number;
  state: RestoreState;
  progress: number;
  progress_detail?: ProgressDetail | null;
  phase: string;
  error: string;
  safety_copy: string;
  steps: Step[];
  log?: LogLine[];
  started_at: string | null;
  ended_at: string | null;
}
export interface LogLine {
  at: string | null;
  level: string;
  text: string;
}
export interface RestoreDetail extends RestoreTask {
  attempt_history: Attempt[];
  log: LogLine[];
}
// What verifying a backup file found (POST /backup-records/{id}/verify).
export interface VerifyResult {
  path: string;
  file_size: number;
  checksum: string;
  system_version: string;
  data_source: string;
  cluster: string;
  execution_time: string;
  sources: { name: string; kind: string; entries: number; bytes: number }[];
}
export interface User {
  name: string;
  role: Role;
  created_at: string | null;
}
export interface AuditEntry {
  id: number;
  at: string | null;
  user: string;
  action: string;
  target: string;
  outcome: string;
  detail: string;
}
// GET /api/v1/health: role and active_address come with manager high availability.
export interface Health {
  status: string;
  version?: string;
  role?: string;
  active_address?: string;
}
export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  total: number;
}

// An error answer of the API, or a failure to reach it, in words.
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

let csrfToken = '';
let onSessionLost: (() => void) | null = null;

export function setCsrfToken(token: string) {
  csrfToken = token;
}
// Called when a call answers 401: the session expired or was ended elsewhere.
export function setSessionLostHandler(fn: (() => void) | null) {
  onSessionLost = fn;
}

export async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // The login has no session yet: the header's presence is what counts there.
  if (method !== 'GET') headers['X-Flinkbr-CSRF'] = csrfToken || 'login';
  let res: Response;
  try {
    res = await fetch('/api/v1' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError('unavailable', 'The flinkbr daemon cannot be reached. Is it running?', 0);
  }
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error;
    // /auth/me is how the console learns whether it has a session at all: no session there is
    // the normal first visit, not a lost one.
    if (res.status === 401 && path !== '/auth/login' && path !== '/auth/me' && onSessionLost) onSessionLost();
    throw new ApiError(
      err?.code ?? 'internal',
      err?.message ?? `The daemon answered HTTP ${res.status} without an explanation.`,
      res.status,
      err?.field,
    );
  }
  return data as T;
}

export const enc = encodeURIComponent;

export function pageQuery(limit: number, offset: number) {
  return `?limit=${limit}&offset=${offset}`;
}
