// The Tidings chat demo: `npm start`, then open http://localhost:8080/Alice and http://localhost:8080/Bob.
import { startChat } from './chat-server.js';

const port = Number(process.env.PORT ?? 8080);
const chat = await startChat({ port, host: process.env.HOST ?? '127.0.0.1' });
console.log(`Chat running: open http://localhost:${chat.port}/Alice and http://localhost:${chat.port}/Bob`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await chat.close();
    await chat.hub.close();
  });
}
