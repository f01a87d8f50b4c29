// The chat page: one channel, `chat`. Everything shown comes from Tidings, so each message appears
// once, in order, on every page, whichever transport the browser ends up using.
const PAGE = 30; // messages shown on join, and loaded by each "Earlier messages"
const name = decodeURIComponent(location.pathname.slice(1)) || 'Guest';
const params = new URLSearchParams(location.search);
const transports = params.get('transport')?.split(',');

const log = document.getElementById('log');
const status = document.getElementById('status');
const via = document.getElementById('transport');
const online = document.getElementById('online');
const earlier = document.getElementById('earlier');
const problem = document.getElementById('problem');
const text = document.getElementById('text');
document.getElementById('me').textContent = name;

// The name is the token: the demo server takes it at its word (see chat-server.ts), so it is not a login.
const client = Tidings.connect(location.origin, { transports, token: name });

// The client names no event for a move back to WebSocket after a fallback: the label is also
// refreshed with the online list below.
const showTransport = () => (via.textContent = `via ${client.transport}`);
client.on('state', ({ newState }) => {
  status.dataset.state = newState;
  status.textContent = newState;
  showTransport();
});

// What the log holds: messages of one epoch (one unbroken history of the channel), the oldest at `oldest`.
let epoch;
let oldest;

function element(tag, className, content) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = content; // textContent, never innerHTML: names and texts stay text
  return node;
}

function item(message) {
  const when = new Date(message.ts);
  const time = element('time', '', when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  const li = element('li', message.data.name === name ? 'message mine' : 'message');
  li.append(time, element('span', 'name', message.data.name), element('span', 'text', message.data.text));
  li.dataset.offset = String(message.offset);
  return li;
}

function show(message) {
  if (message.snapshot) return; // the chat keeps no snapshot, only messages
  // Follow the conversation, unless the reader has scrolled up to read something older.
  const following = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(item(message));
  epoch = message.epoch;
  oldest ??= message.offset;
  if (following || message.data.name === name) log.scrollTop = log.scrollHeight;
}

/** Scroll-back: the page of messages before the oldest shown, once per click, kept in view. */
async function showEarlier() {
  const from = { epoch, offset: oldest };
  earlier.disabled = true;
  try {
    const page = await client.history('chat', { before: from, limit: PAGE });
    // The log changed meanwhile (the server reset its history): that page no longer fits.
    if (epoch !== from.epoch || oldest !== from.offset || page.epoch !== epoch) return;
    const older = page.messages.filter((message) => !message.snapshot && message.offset < oldest);
    const below = log.scrollHeight - log.scrollTop;
    log.prepend(...older.map(item));
    log.scrollTop = log.scrollHeight - below;
    if (older.length > 0) oldest = older[0].offset;
    // Fewer than asked: the server keeps nothing older (its history is bounded in count and age).
    earlier.hidden = older.length < PAGE || oldest <= 1;
  } catch {
    problem.textContent = 'Could not load earlier messages; try again.';
  } finally {
    earlier.disabled = false;
  }
}
earlier.addEventListener('click', showEarlier);

// On join: the newest page of history, then the live messages right after it, so nothing is shown
// twice or missed. Without history (unreachable just now) the subscription replays all the server keeps.
let start = 'snapshot';
try {
  const page = await client.history('chat', { limit: PAGE });
  for (const message of page.messages) show(message);
  start = { epoch: page.epoch, offset: page.offset };
  earlier.hidden = page.messages.length < PAGE || oldest <= 1;
} catch {}
const chat = client.subscribe('chat', show, { since: start });

// The server could not continue from where this page was (it restarted without its store, or the
// page was away longer than the history reaches): say so, and start the log over from what it has.
chat.on('reset', (position) => {
  const notice = 'The server’s history was reset: earlier messages are gone, the log starts again here.';
  log.replaceChildren(element('li', 'notice', notice));
  epoch = position.epoch;
  oldest = undefined;
  earlier.hidden = true;
});

// Who is online: the server's member list is the truth; join and leave only say it changed. Asked
// again on every (re)subscription, and now and then for the polling transports, which hear no joins.
let asked = 0;
async function showOnline() {
  const mine = ++asked;
  try {
    const members = await chat.presence();
    if (mine !== asked) return; // a later answer is on its way
    // One member per open page: someone with two tabs open is listed once.
    const names = [...new Set(members.map((member) => member.user))].sort();
    online.textContent = names.length > 0 ? `Online: ${names.join(', ')}` : '';
  } catch {
    // The next join, leave, reconnect or tick asks again.
  }
}
chat.on('subscribed', showOnline);
chat.on('join', showOnline);
chat.on('leave', showOnline);
setInterval(() => {
  showOnline();
  showTransport();
}, 15_000);

/** What to tell the writer when a publish fails: the client refuses an oversized one before sending. */
function sendProblem(error) {
  const { messageTooLarge, frameTooLarge } = Tidings.ErrorCode;
  if (error.code !== messageTooLarge && error.code !== frameTooLarge) {
    return `Could not send (${error.message}). Your message is still in the box: try again.`;
  }
  const kb = (bytes) => Math.ceil(bytes / 1024);
  const { bytes, limit } = error.details ?? {};
  const size = bytes && limit ? ` (${kb(bytes)} KB; the most is ${kb(limit)} KB)` : '';
  return `That message is too long to send${size}. Shorten it and press Send again.`;
}

document.getElementById('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = text.value.trim();
  if (!value) return;
  text.value = '';
  problem.textContent = '';
  try {
    await client.publish('chat', { name, text: value });
  } catch (error) {
    text.value = value; // kept, for the writer to shorten or send again
    problem.textContent = sendProblem(error);
  }
});

text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    document.getElementById('send').requestSubmit();
  }
});
