// The dashboard page's script (bundled ahead into dist/admin/admin.js). It renders what the server
// pushes over SSE once a second; it asks for data only on a click (a channel's history) or a form.
import type { LiveFrame, Sample } from '../live-view.js';
import { Chart } from './chart.js';
import { format, h } from './dom.js';

const CSRF_HEADER = 'x-tidings-csrf';
const SERIES_LENGTH = 900;

const app = document.getElementById('app')!;
const csrf = app.dataset.csrf ?? '';
const series: Sample[] = [];
const chart = new Chart();
let selected: string | undefined;

const status = h('span', { id: 'status', class: 'badge' }, 'connecting');
const engine = h('span', { id: 'engine', class: 'badge' });
const processInfo = h('span', { id: 'process', class: 'muted' });
const logout = h('button', { type: 'button', id: 'logout' }, 'Log out');
const cards = h('section', { class: 'cards', id: 'cards' });
const channels = h('tbody', { id: 'channels' });
const channelCount = h('span', { id: 'channel-count', class: 'muted' });
const errors = h('tbody', { id: 'errors' });
const hooks = h('tbody', { id: 'hooks' });
const processes = h('tbody', { id: 'processes' });
const detail = h('section', { id: 'detail', class: 'panel', hidden: '' });

app.replaceChildren(
  h('header', {}, h('h1', {}, 'Tidings'), status, engine, processInfo, logout),
  cards,
  h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Last 15 minutes ', legend('messages', 'messages/s'), legend('deliveries', 'deliveries/s')),
    chart.element,
  ),
  h(
    'div',
    { class: 'columns' },
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Channels ', channelCount),
      table(['channel', 'subscribers', 'msg/s', 'epoch', 'offset'], channels),
    ),
    detail,
  ),
  h(
    'div',
    { class: 'columns' },
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Processes'),
      table(['process', 'connections', 'msg/s', 'deliveries/s'], processes),
    ),
    h('section', { class: 'panel' }, h('h2', {}, 'Errors by code'), table(['code', 'count'], errors)),
    h('section', { class: 'panel' }, h('h2', {}, 'Hooks'), table(['hook', 'outcome', 'calls'], hooks)),
  ),
);

logout.addEventListener('click', async () => {
  await post('/admin/logout', {}).catch(() => undefined);
  location.reload();
});

const events = new EventSource(`/admin/events?csrf=${encodeURIComponent(csrf)}`);
events.addEventListener('series', (event) => {
  series.splice(0, series.length, ...(JSON.parse((event as MessageEvent).data) as Sample[]));
  chart.draw(series);
});
events.onmessage = (event) => render(JSON.parse(event.data) as LiveFrame);
events.onopen = () => setStatus('live', 'ok');
events.onerror = () => {
  setStatus('reconnecting', 'bad');
  // A session that ended (logout elsewhere, expiry, restart) answers 401: back to the login form.
  fetch('/admin', { credentials: 'same-origin' })
    .then((response) => response.text())
    .then((text) => {
      if (text.includes('name="secret"')) location.reload();
    })
    .catch(() => undefined);
};

function render(frame: LiveFrame): void {
  series.push(frame.sample);
  if (series.length > SERIES_LENGTH) series.shift();
  chart.draw(series);
  const total = Object.values(frame.connections).reduce((a, b) => a + b, 0);
  const byTransport = Object.entries(frame.connections)
    .map(([transport, n]) => `${transport} ${n}`)
    .join(' · ');
  cards.replaceChildren(
    card('connections', 'Connections', String(total), byTransport),
    card('messages', 'Messages/s', format(frame.sample.messages), `${format(frame.totals.published)} total`),
    card(
      'deliveries',
      'Deliveries/s',
      format(frame.sample.deliveries),
      `${format(frame.totals.deliveries)} total`,
    ),
    card('slow', 'Slow consumers dropped', String(frame.totals.slowConsumers), 'since start'),
    card(
      'cpu',
      'CPU',
      `${frame.process.cpuPercent}%`,
      `${format(frame.process.rssBytes / 1_048_576)} MB RSS`,
    ),
  );
  engine.textContent = `${frame.engine.type}: ${frame.engine.status}${frame.engine.code ? ` (${frame.engine.code})` : ''}`;
  engine.className = `badge ${frame.engine.status === 'ok' ? 'ok' : 'bad'}`;
  processInfo.textContent = `pid ${frame.process.pid} · up ${frame.process.uptimeS} s`;
  channelCount.textContent =
    frame.channelCount > frame.channels.length
      ? `(${frame.channels.length} of ${frame.channelCount}, busiest first)`
      : `(${frame.channelCount})`;
  channels.replaceChildren(
    ...frame.channels.map((row) => {
      const link = h('a', { href: '#', 'data-channel': row.channel }, row.channel);
      link.addEventListener('click', (event) => {
        event.preventDefault();
        void open(row.channel);
      });
      return h(
        'tr',
        row.channel === selected ? { class: 'selected' } : {},
        h('td', {}, link),
        h('td', { class: 'n' }, String(row.subscribers)),
        h('td', { class: 'n' }, format(row.rate)),
        h('td', { class: 'mono' }, row.epoch ?? ''),
        h('td', { class: 'n' }, row.offset === undefined ? '' : String(row.offset)),
      );
    }),
  );
  processes.replaceChildren(
    ...orNone(
      frame.processes.map((report) =>
        h(
          'tr',
          {},
          h(
            'td',
            { class: 'mono' },
            `${report.host}:${report.pid}${report.id === frame.process.id ? ' (this)' : ''}`,
          ),
          h('td', { class: 'n' }, String(Object.values(report.connections).reduce((a, b) => a + b, 0))),
          h('td', { class: 'n' }, format(report.messagesPerS)),
          h('td', { class: 'n' }, format(report.deliveriesPerS)),
        ),
      ),
      'Reported every 5 s: the first report is on its way.',
    ),
  );
  errors.replaceChildren(
    ...orNone(
      Object.entries(frame.errors).map(([code, n]) =>
        h('tr', {}, h('td', { class: 'mono' }, code), h('td', { class: 'n' }, String(n))),
      ),
      'No errors.',
    ),
  );
  hooks.replaceChildren(
    ...orNone(
      frame.hooks.map((row) =>
        h(
          'tr',
          {},
          h('td', {}, row.hook),
          h('td', {}, row.outcome),
          h('td', { class: 'n' }, String(row.count)),
        ),
      ),
      'No hooks configured, or none called yet.',
    ),
  );
}

/** The rows, or one row saying there are none (an empty table reads as "still loading"). */
function orNone(rows: HTMLTableRowElement[], text: string): HTMLTableRowElement[] {
  return rows.length > 0 ? rows : [h('tr', {}, h('td', { class: 'muted', colspan: '4' }, text))];
}

interface ChannelDetail {
  channel: string;
  epoch: string;
  offset: number;
  subscribers: number;
  messages: { offset: number; ts: number; data: string }[];
  next?: number;
  snapshot?: { offset: number; ts: number; data: string };
  presence?: { client: string; user: string }[];
}

async function open(channel: string, before?: number): Promise<void> {
  selected = channel;
  const query = new URLSearchParams({ channel });
  if (before !== undefined) query.set('before', String(before));
  const response = await fetch(`/admin/api/channel?${query}`, { headers: { [CSRF_HEADER]: csrf } });
  const body = await response.json();
  if (!response.ok) {
    detail.replaceChildren(h('h2', {}, channel), h('p', { class: 'error' }, body.message ?? 'failed'));
    detail.hidden = false;
    return;
  }
  const info = body as ChannelDetail;
  const older = h('button', { type: 'button', id: 'older' }, 'Older');
  older.addEventListener('click', () => void open(channel, info.next));
  const history = h(
    'ol',
    { id: 'history', class: 'history' },
    ...info.messages.map((message) =>
      h(
        'li',
        {},
        h('span', { class: 'muted' }, `#${message.offset} ${new Date(message.ts).toLocaleTimeString()} `),
        h('code', {}, message.data),
      ),
    ),
  );
  detail.replaceChildren(
    h('h2', {}, info.channel),
    h(
      'p',
      { class: 'muted' },
      `epoch ${info.epoch} · offset ${info.offset} · ${info.subscribers} subscribers here`,
    ),
    publishForm(channel),
    h('h3', {}, 'History (newest first)'),
    info.messages.length > 0 ? history : h('p', { class: 'muted' }, 'No retained messages.'),
    ...(info.next !== undefined ? [older] : []),
    h('h3', {}, 'Snapshot'),
    info.snapshot
      ? h('pre', { id: 'snapshot' }, `#${info.snapshot.offset} ${info.snapshot.data}`)
      : h('p', { class: 'muted' }, 'None.'),
    ...(info.presence
      ? [
          h('h3', {}, `Presence (${info.presence.length})`),
          h('ul', { id: 'presence' }, ...info.presence.map((m) => h('li', {}, `${m.user} (${m.client})`))),
        ]
      : []),
    disconnectForm(),
  );
  detail.hidden = false;
}

function publishForm(channel: string): HTMLFormElement {
  const input = h('textarea', { id: 'publish-data', rows: '3', spellcheck: 'false' });
  input.value = '{"text": "hello from the dashboard"}';
  const result = h('pre', { id: 'publish-result', class: 'muted' });
  const form = h(
    'form',
    { id: 'publish-form' },
    h('h3', {}, 'Publish (JSON)'),
    input,
    h('button', { type: 'submit' }, 'Publish'),
    result,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      JSON.parse(input.value);
    } catch (error) {
      result.textContent = `Not JSON: ${(error as Error).message}`;
      return;
    }
    const { ok, body } = await post('/admin/api/publish', { channel, json: input.value });
    result.textContent = ok
      ? `ack: offset ${body.offset}, epoch ${body.epoch}`
      : `${body.code}: ${body.message}`;
    if (ok)
      void open(channel).then(() => {
        document.getElementById('publish-result')!.textContent =
          `ack: offset ${body.offset}, epoch ${body.epoch}`;
      });
  });
  return form;
}

function disconnectForm(): HTMLFormElement {
  const input = h('input', { id: 'disconnect-user', placeholder: 'identity id', required: '' });
  const result = h('span', { id: 'disconnect-result', class: 'muted' });
  const form = h(
    'form',
    { id: 'disconnect-form' },
    h('h3', {}, 'Disconnect a user (every process)'),
    input,
    h('button', { type: 'submit' }, 'Disconnect'),
    result,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const { ok, body } = await post('/admin/api/disconnect', { user: input.value });
    result.textContent = ok
      ? ` ${body.disconnected} connection(s) here; other processes told`
      : ` ${body.message}`;
  });
  return form;
}

// biome-ignore lint/suspicious/noExplicitAny: the answer's shape depends on the endpoint
async function post(path: string, body: unknown): Promise<{ ok: boolean; body: any }> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CSRF_HEADER]: csrf },
    body: JSON.stringify(body),
  });
  return { ok: response.ok, body: await response.json().catch(() => ({})) };
}

function setStatus(text: string, kind: 'ok' | 'bad'): void {
  status.textContent = text;
  status.className = `badge ${kind}`;
}

function card(id: string, title: string, value: string, note: string): HTMLElement {
  return h(
    'div',
    { class: 'card', id: `card-${id}` },
    h('div', { class: 'muted' }, title),
    h('div', { class: 'value' }, value),
    h('div', { class: 'muted small' }, note),
  );
}

function table(headings: string[], body: HTMLTableSectionElement): HTMLTableElement {
  return h('table', {}, h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', {}, t)))), body);
}

function legend(kind: string, text: string): HTMLElement {
  return h('span', { class: `legend ${kind}` }, text);
}
