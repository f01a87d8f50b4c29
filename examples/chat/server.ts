// The Tidings chat demo: `npm start`, then open http://localhost:8080/Alice and http://localhost:8080/Bob.
import { fileURLToPath } from 'node:url';
import { SqliteEngine } from '@tidings/sqlite';
import { startChat } from './chat-server.js';

const port = Number(process.env.PORT ?? 8080);
// The conversation is kept in data/chat.db beside this file (git-ignored), so it survives a restart
// of the demo, even a kill -9. CHAT_DB names another file.
const path = process.env.CHAT_DB ?? fileURLToPath(new URL('./data/chat.db', import.meta.url));
const chat = await startChat({
  port,
  host: process.env.HOST ?? '127.0.0.1',
  engine: new SqliteEngine({ path }),
});
console.log(`Chat running: open http://localhost:${chat.port}/Alice and http://localhost:${chat.port}/Bob`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await chat.close();
    await chat.hub.close();
  });
}
