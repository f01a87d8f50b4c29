// The chat page: one channel, `chat`. Everything shown comes from Tidings, so each message appears
// once, in order, on every page, whichever transport the browser ends up using.
const name = decodeURIComponent(location.pathname.slice(1)) || 'Guest';
const params = new URLSearchParams(location.search);
const transports = params.get('transport')?.split(',');

const log = document.getElementById('log');
const status = document.getElementById('status');
const online = document.getElementById('online');
const text = document.getElementById('text');
document.getElementById('me').textContent = name;

// The name is the token: the demo server takes it at its word (see chat-server.ts), so it is not a login.
const client = Tidings.connect(location.origin, { transports, token: name });

client.on('state', ({ newState }) => {
  status.dataset.state = newState;
  status.textContent = `${newState}${client.transport ? ` (${client.transport})` : ''}`;
});

function show(message) {
  const item = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'name';
  who.textContent = message.data.name; // textContent, never innerHTML: names and texts stay text
  item.append(who, document.createTextNode(message.data.text));
  if (message.data.name === name) item.className = 'mine';
  item.dataset.offset = String(message.offset);
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

const chat = client.subscribe('chat', show, { since: 'snapshot' });
// History was lost (e.g. the server restarted): start the log over from what the server has.
chat.on('reset', () => log.replaceChildren());

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
setInterval(showOnline, 15_000);

document.getElementById('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = text.value.trim();
  if (!value) return;
  text.value = '';
  try {
    await client.publish('chat', { name, text: value });
  } catch (error) {
    text.value = value;
    status.textContent = `could not send: ${error.message}`;
  }
});

text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    document.getElementById('send').requestSubmit();
  }
});
