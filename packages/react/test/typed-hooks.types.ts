// Type-level tests: compiled by `npm run typecheck` (tsc), never run. Each `@ts-expect-error` line must
// fail to compile; if it ever compiles, tsc reports the unused directive and the check fails.
import type { Client, Strict } from '@tidings/client';
import { typedHooks, useChannel, useClient, usePublish } from '../src/index.js';

interface ChatLine {
  user: string;
  text: string;
}
type Channels = { 'chat.*': ChatLine; cursor: { x: number; y: number } };

type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
function expectType<A, B>(_proof: Equal<A, B>): void {}

export function Typed(): void {
  const hooks = typedHooks<Channels>();
  const chat = hooks.useChannel('chat.lobby', { since: 'snapshot' });
  expectType<typeof chat.last, import('@tidings/client').Message<ChatLine> | undefined>(true);
  void chat.publish({ user: 'ada', text: 'hi' });
  // @ts-expect-error a chat line needs its text
  void chat.publish({ user: 'ada' });
  hooks.useSubscription('cursor', (message) =>
    expectType<typeof message.data, { x: number; y: number }>(true),
  );
  const publish = hooks.usePublish();
  void publish('cursor', { x: 1, y: 2 });
  // @ts-expect-error the cursor's y is missing
  void publish('cursor', { x: 1 });
  void publish('other', 'anything');
  const other = hooks.useChannel('other');
  expectType<typeof other.messages, readonly import('@tidings/client').Message<unknown>[]>(true);
  const explicit = hooks.useChannel<string>('other');
  expectType<typeof explicit.last, import('@tidings/client').Message<string> | undefined>(true);
  const client: Client<Channels> = hooks.useClient();
  void client;

  // A strict map refuses channels none of its keys match.
  const strict = typedHooks<Strict<Channels>>();
  strict.useChannel('chat.room');
  // @ts-expect-error no key matches `lobby`
  strict.useChannel('lobby');
  // @ts-expect-error nor here
  strict.usePresence('lobby');
}

export function Plain(): void {
  const log = useChannel<ChatLine>('chat.lobby');
  expectType<typeof log.messages, readonly import('@tidings/client').Message<ChatLine>[]>(true);
  const untyped = useChannel('anything');
  expectType<typeof untyped.last, import('@tidings/client').Message<unknown> | undefined>(true);
  void usePublish()('anything', { any: 'data' });
  const client: Client = useClient();
  void client;
}
