import { buildAdmin } from '../scripts/build-admin.mjs';

// Shared by the admin tests: the dashboard's front end built as `npm run build` builds it, and a login.

export const ADMIN_PASSWORD = 'correct-horse-battery-staple';

let built: Promise<void> | undefined;
/** The server serves dist/admin/: build it once per test process (esbuild, well under a second). */
export function buildAdminOnce(): Promise<void> {
  built ??= buildAdmin();
  return built;
}

export interface AdminLogin {
  cookie: string;
  csrf: string;
}

/** Logs in over HTTP as the login form does; the session cookie and the page's CSRF token. */
export async function login(url: string, secret = ADMIN_PASSWORD): Promise<AdminLogin> {
  const response = await fetch(`${url}/admin/login`, {
    method: 'POST',
    headers: { origin: url, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ secret }),
    redirect: 'manual',
  });
  if (response.status !== 303) throw new Error(`login: ${response.status}`);
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await fetch(`${url}/admin`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]+)"/.exec(page)![1]!;
  return { cookie, csrf };
}
