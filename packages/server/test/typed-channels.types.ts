// Type-level tests: compiled by `npm run typecheck` (tsc), never run. Each `@ts-expect-error` line must
// fail to compile; if it ever compiles, tsc reports the unused directive and the check fails.
import { z } from 'zod';
import {
  createHub,
  createTidingsServer,
  type DataOf,
  type Hub,
  type Message,
  type StandardSchemaV1,
  type Strict,
} from '../src/index.js';

interface ChatLine {
  user: string;
  text: string;
}
interface Order {
  id: string;
  total: number;
}
interface Audit {
  by: string;
}
type Channels = { chat: ChatLine; 'orders.*': Order; 'audit.>': Audit };

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
function expectType<A, B>(_proof: Equal<A, B>): void {}

// DataOf: names, `*` (one segment), `>` (one or more), template-literal channels, and no match.
expectType<DataOf<Channels, 'chat'>, ChatLine>(true);
expectType<DataOf<Channels, 'orders.42'>, Order>(true);
expectType<DataOf<Channels, `orders.${string}`>, Order>(true);
expectType<DataOf<Channels, 'orders.*'>, Order>(true);
expectType<DataOf<Channels, 'orders.42.lines'>, unknown>(true);
expectType<DataOf<Channels, 'orders'>, unknown>(true);
expectType<DataOf<Channels, 'audit.a'>, Audit>(true);
expectType<DataOf<Channels, 'audit.a.b'>, Audit>(true);
expectType<DataOf<Channels, 'audit.*'>, Audit>(true);
expectType<DataOf<Channels, 'audit.>'>, Audit>(true);
expectType<DataOf<Channels, 'audit'>, unknown>(true);
expectType<DataOf<Channels, 'elsewhere'>, unknown>(true);
expectType<DataOf<Channels, string>, unknown>(true);
// A pattern subscription is typed only by keys covering all of it: `orders.>` also hears `orders.1.2`.
expectType<DataOf<Channels, 'orders.>'>, unknown>(true);
// Every matching key holds (the server checks every matching schema): an intersection.
type Layered = { 'shop.*': { shop: string }; 'shop.main': { main: true }; '>': unknown };
expectType<DataOf<Layered, 'shop.main'>, { shop: string } & { main: true }>(true);
expectType<DataOf<Layered, 'shop.other'>, { shop: string }>(true);
// A union type stays one.
expectType<DataOf<{ n: 1 | 2 }, 'n'>, 1 | 2>(true);

const hub = createHub<Channels>();
const line: ChatLine = { user: 'ada', text: 'hi' };
void hub.publish('chat', line);
void hub.publish('orders.42', { id: 'o1', total: 3 });
void hub.publish(`orders.${String(42)}`, { id: 'o1', total: 3 });
void hub.publish('elsewhere', 'anything: no key matches');
// @ts-expect-error wrong shape for chat
void hub.publish('chat', { user: 'ada' });
// @ts-expect-error an Order is not a ChatLine
void hub.publish('chat', { id: 'o1', total: 3 });
// @ts-expect-error wrong field type on a pattern's channel
void hub.publish('orders.42', { id: 'o1', total: '3' });
void hub.broadcast(['orders.1', 'orders.2'], { id: 'o1', total: 3 });
void hub.broadcast('orders.*', { id: 'o1', total: 3 });
// @ts-expect-error a broadcast's data must fit every channel
void hub.broadcast(['orders.1', 'chat'], { id: 'o1', total: 3 });
void hub.setState('chat', line);
// @ts-expect-error the state is delivered as the channel's data: same type
void hub.setState('chat', 'text');

hub.subscribe('chat', (message) => expectType<typeof message.data, ChatLine>(true));
hub.subscribe('orders.*', (message) => expectType<typeof message.data, Order>(true));
hub.subscribe('orders.7', (message) => expectType<typeof message.data, Order>(true));
hub.subscribe('elsewhere', (message) => expectType<typeof message.data, unknown>(true));
// Naming the type is still allowed (as before typed maps), but a handler's annotation must fit the map.
hub.subscribe<{ any: 'thing' }>('elsewhere', (message) =>
  expectType<typeof message.data, { any: 'thing' }>(true),
);
// @ts-expect-error a ChatLine handler on an Order channel
hub.subscribe('orders.7', (message: Message<ChatLine>) => void message);

const chat = hub.channel('chat');
void chat.send(line);
// @ts-expect-error wrong shape through a channel handle
void chat.send({ text: 1 });
chat.subscribe((message) => expectType<typeof message.data, ChatLine>(true));
void chat.history().then((page) => expectType<(typeof page.messages)[number]['data'], ChatLine>(true));
void hub
  .history('orders.9')
  .then((page) => expectType<NonNullable<typeof page.snapshot>['data'], Order>(true));
void chat.setState(line);
// @ts-expect-error wrong state through a channel handle
void chat.setState({});

const scope = hub.scope();
void scope.publish('chat', line);
// @ts-expect-error wrong shape through a scope
void scope.publish('chat', 1);

// Without a map nothing changes: data is unknown, anything may be published.
const plain = createHub();
void plain.publish('chat', 1);
plain.subscribe('chat', (message) => expectType<typeof message.data, unknown>(true));
plain.subscribe<ChatLine>('chat', (message) => expectType<typeof message.data, ChatLine>(true));
// A typed hub is still a Hub: a server takes it as it is.
const anyHub: Hub = hub;
void anyHub;
createTidingsServer({ hub });

// Schemas: any Standard Schema (zod here), and the map inferred from their output types.
const ChatSchema = z.object({ user: z.string(), text: z.string().max(500) });
const OrderSchema = z.object({ id: z.string(), total: z.number() });
const inferred = createHub({ schemas: { chat: ChatSchema, 'orders.*': OrderSchema } });
inferred.subscribe('orders.1', (message) =>
  expectType<typeof message.data, { id: string; total: number }>(true),
);
void inferred.publish('chat', line);
// @ts-expect-error inferred from the zod schema
void inferred.publish('chat', { user: 'ada' });
// With an explicit map, a schema must produce that channel's type.
createHub<Channels>({ schemas: { chat: ChatSchema } });
// @ts-expect-error the schema for chat produces orders
createHub<Channels>({ schemas: { chat: OrderSchema } });
// A hand-written Standard Schema works as well.
const Positive: StandardSchemaV1<unknown, number> = {
  '~standard': {
    version: 1,
    vendor: 'hand',
    validate: (value) =>
      typeof value === 'number' && value > 0 ? { value } : { issues: [{ message: 'not positive' }] },
  },
};
const counters = createHub({ schemas: { 'count.*': Positive } });
void counters.publish('count.a', 1);
// @ts-expect-error inferred number
void counters.publish('count.a', '1');

// Strict maps: a channel no key matches does not compile (a typo), names and patterns still do.
const strict = createHub<Strict<Channels>>();
void strict.publish('chat', line);
void strict.publish('orders.42', { id: 'o1', total: 3 });
void strict.publish('audit.a.b', { by: 'ada' });
strict.subscribe('orders.*', (message) => expectType<typeof message.data, Order>(true));
strict.subscribe('audit.>', (message) => expectType<typeof message.data, Audit>(true));
// @ts-expect-error a typo: no key matches `chats`
void strict.publish('chats', line);
// Types cannot say "no dot" in a template: `orders.1.2` gets past `orders.*` here, but its data is unknown.
strict.subscribe('orders.1.2', (message) => expectType<typeof message.data, unknown>(true));
// @ts-expect-error not a channel of the map
strict.channel('elsewhere');
// @ts-expect-error the shape still counts
void strict.publish('chat', { text: 'no user' });
const strictAsHub: Hub = strict;
void strictAsHub;
