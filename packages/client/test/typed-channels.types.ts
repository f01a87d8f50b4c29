// Type-level tests: compiled by `npm run typecheck` (tsc), never run. Each `@ts-expect-error` line must
// fail to compile; if it ever compiles, tsc reports the unused directive and the check fails.
import { type Client, connect, type DataOf, type Message, type Strict } from '../src/index.js';

interface ChatLine {
  user: string;
  text: string;
}
interface Order {
  id: string;
  total: number;
}
/** The same map the server's `createHub<Channels>()` takes: a type, shared without any server code. */
type Channels = { chat: ChatLine; 'orders.*': Order; 'feed.>': { item: string } };

type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
function expectType<A, B>(_proof: Equal<A, B>): void {}

expectType<DataOf<Channels, 'orders.1'>, Order>(true);

const client = connect<Channels>('http://localhost:3000');
client.subscribe('chat', (message) => expectType<typeof message.data, ChatLine>(true));
client.subscribe('orders.*', (message) => expectType<typeof message.data, Order>(true));
client.subscribe('orders.42', (message) => expectType<typeof message.data, Order>(true));
client.subscribe('feed.a.b', (message) => expectType<typeof message.data, { item: string }>(true));
client.subscribe('feed.>', (message) => expectType<typeof message.data, { item: string }>(true));
client.subscribe('other', (message) => expectType<typeof message.data, unknown>(true));
// @ts-expect-error an Order handler on the chat channel
client.subscribe('chat', (message: Message<Order>) => void message);

void client.publish('chat', { user: 'ada', text: 'hi' });
void client.publish('orders.42', { id: 'o1', total: 3 });
void client.publish('other', 42);
// @ts-expect-error wrong shape for chat
void client.publish('chat', { user: 'ada' });
// @ts-expect-error wrong field type on a pattern's channel
void client.publish('orders.42', { id: 'o1', total: '3' });

// Without a map nothing changes; naming the type stays possible; a typed client is still a Client.
const plain = connect('http://localhost:3000');
void plain.publish('chat', { anything: true });
plain.subscribe('chat', (message) => expectType<typeof message.data, unknown>(true));
plain.subscribe<ChatLine>('chat', (message) => expectType<typeof message.data, ChatLine>(true));
const anyClient: Client = client;
void anyClient;

// A strict map refuses channels none of its keys match.
const strict = connect<Strict<Channels>>('http://localhost:3000');
strict.subscribe('orders.9', (message) => expectType<typeof message.data, Order>(true));
void strict.publish('feed.x.y', { item: 'a' });
// @ts-expect-error a typo: no key matches `chat.lobby`
strict.subscribe('chat.lobby', () => {});
// @ts-expect-error nor `other`
void strict.publish('other', 1);
