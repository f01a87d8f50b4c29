// The two HTML pages of the dashboard. Everything dynamic on them is escaped; the dashboard's data
// arrives later through its script (built ahead into dist/admin/, see scripts/build-admin.mjs).

export const ASSET_PATH = '/admin/assets';

export function loginPage(error?: string): string {
  return page(
    'Tidings admin: log in',
    `<main class="login">
  <h1>Tidings admin</h1>
  <form method="post" action="/admin/login">
    <label for="secret">Admin password or API key</label>
    <input id="secret" name="secret" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Log in</button>
    ${error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>`}
  </form>
</main>`,
  );
}

export function dashboardPage(csrf: string): string {
  return page(
    'Tidings admin',
    `<main id="app" data-csrf="${escapeHtml(csrf)}"><p>Loading…</p></main>
<script type="module" src="${ASSET_PATH}/admin.js"></script>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${ASSET_PATH}/admin.css">
</head>
<body>
${body}
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}
