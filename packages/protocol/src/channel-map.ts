/**
 * Typed channels: a map from channel names or patterns to the type of their `data`, shared by the
 * server's hub and the browser client (types only, nothing at run time):
 *
 * ```ts
 * type Channels = { chat: ChatLine; 'orders.*': Order };
 * const hub = createHub<Channels>();     // hub.publish('chat', …) must be a ChatLine
 * const client = connect<Channels>(url); // client.subscribe('orders.*', (m) => m.data) is an Order
 * ```
 *
 * Keys follow the channel grammar of `channel.ts`: `*` matches one segment, a final `>` one or more.
 * A channel's data is what every key that matches it says (their intersection), just as the server
 * checks every matching schema; a channel no key matches is `unknown`. A pattern subscription gets
 * what every key covering the whole pattern says: `'orders.>': Order` types a subscription to
 * `orders.*`, but `'orders.*'` does not type `orders.>` (which also hears `orders.1.2`).
 */
export type ChannelMap = object;

/**
 * The map of a hub or client created without one: every channel's data is `unknown` (no key matches).
 * `any` rather than an empty map so that a typed hub or client is still a plain `Hub` or `Client`.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; DataOf<any, C> is `unknown`, never `any`.
export type Untyped = any;

declare const strict: unique symbol;

/**
 * A map whose channels are the only ones: `createHub<Strict<Channels>>()` refuses to compile a publish or
 * subscribe to a channel no key matches (a typo), where a plain map lets it through as `unknown`.
 */
export type Strict<Map extends ChannelMap> = Map & { readonly [strict]: true };

/**
 * The channel names (and patterns) a map allows: any string, or for a `Strict` map those its keys
 * match, as template literal types. A template's `${string}` may hold dots, so a key's `*` lets more
 * through here (`orders.1.2` for `orders.*`) than it matches; such a channel's data stays `unknown`.
 */
export type ChannelOf<Map> = Map extends { readonly [strict]: true }
  ? { [Key in keyof Map & string]: Template<Key> }[keyof Map & string]
  : string;

/** A key as a template literal type: `orders.*` → `orders.${string}`, `>` → any string. */
type Template<Key extends string> = Key extends `${infer Head}.${infer Rest}`
  ? `${Template<Head>}.${Template<Rest>}`
  : Key extends '*' | '>'
    ? string
    : Key;

/** The type of `data` on `channel` (a name or a pattern) under `Map`. */
export type DataOf<Map, Channel extends string> = AllOf<Map, KeysMatching<Map, Channel>>;

/** The map's keys that match (or, for a pattern, cover) the channel. */
type KeysMatching<Map, Channel extends string> = {
  [Key in keyof Map & string]: Matches<Key, Channel> extends true ? Key : never;
}[keyof Map & string];

/** The intersection of the map's types under these keys; `unknown` for none. Spread over keys, not values, so a union type stays one. */
type AllOf<Map, Keys extends keyof Map> = [Keys] extends [never]
  ? unknown
  : (Keys extends unknown ? (data: Map[Keys]) => void : never) extends (data: infer Both) => void
    ? Both
    : never;

/** Whether key `Key` matches the channel `Channel`, segment by segment. */
type Matches<Key extends string, Channel extends string> = Key extends '>'
  ? Channel extends ''
    ? false
    : true
  : Key extends `${infer Head}.${infer Rest}`
    ? Channel extends `${infer ChannelHead}.${infer ChannelRest}`
      ? Segment<Head, ChannelHead> extends true
        ? Matches<Rest, ChannelRest>
        : false
      : false
    : Channel extends `${string}.${string}`
      ? false
      : Segment<Key, Channel>;

/** One segment: `*` matches any one segment (a subscription's `*` too, but not its `>`), otherwise equal. */
type Segment<Key extends string, Channel extends string> = Key extends '*'
  ? Channel extends '>'
    ? false
    : true
  : [Key, Channel] extends [Channel, Key]
    ? true
    : false;

/** Data that fits every channel of a union (a broadcast to several channels). */
export type DataOfEach<Map, Channels extends string> = (
  Channels extends unknown
    ? (data: DataOf<Map, Channels>) => void
    : never
) extends (data: infer Each) => void
  ? Each
  : never;

/**
 * `Explicit` when a caller names the type (`subscribe<Order>(…)`, as before typed maps), else `Mapped`.
 * Used with NoInfer at the call site, so a handler's annotation cannot choose it by itself.
 */
export type Chosen<Explicit, Mapped> = [Explicit] extends [never] ? Mapped : Explicit;
