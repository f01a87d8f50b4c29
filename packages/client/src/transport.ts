import type {
  HistoryRequestFrame,
  PresenceRequestFrame,
  PublishFrame,
  ServerFrame,
  SinceSpec,
} from '@tidings/protocol';
import type { SizeLimits } from './size-limits.js';

/** A subscription as a transport sees it: the channel, and its position if it has one, else where to start. */
/** A request answered by one frame (the client gives it an `id`): over WebSocket in band, over HTTP by its endpoint. */
export type AskFrame = PresenceRequestFrame | HistoryRequestFrame;

export interface ChannelSpec {
  channel: string;
  since: SinceSpec;
}

/** Why a connection ended, when the server said. No `code`: the network failed or the server just closed. */
export interface CloseInfo {
  code?: string;
  message?: string;
  /** False when the server said not to come back (`disconnect` with `reconnect: false`). */
  reconnect?: boolean;
  /** The server (or a proxy) closed the WebSocket because a frame was too large for it (1009). */
  frameTooLarge?: boolean;
}

/** The platform constructors a transport may use; injectable so Node tests and browsers run the same code. */
export interface Platform {
  WebSocket?: new (url: string) => unknown;
  EventSource?: new (url: string) => unknown;
  fetch?: typeof fetch;
}

/** What the client gives each transport it opens. Calls after the transport was closed are ignored. */
export interface TransportHost {
  readonly platform: Platform;
  /** The endpoint's URL with the common query (version, token) and `params`. */
  url(endpoint: string, params?: [string, string][]): string;
  /** The current subscriptions, each with its position or start. */
  channels(): ChannelSpec[];
  /** The connection works (WebSocket: `welcome` came). HTTP transports call it after each good response. */
  open(heartbeat?: number): void;
  /** What the server said it accepts (`welcome`, the publish endpoint's header), and the token's expiry (`welcome`). */
  limits(limits: Partial<SizeLimits> & { expiresAt?: number }): void;
  frame(frame: ServerFrame): void;
  close(info?: CloseInfo): void;
}

/**
 * One way of talking to the server. Opened with the client's subscriptions (`host.channels()`), it
 * delivers frames to the host until it fails (`host.close`) or is closed. `subscribe`/`unsubscribe` tell
 * it the subscriptions changed: the WebSocket sends a frame, the HTTP transports reopen their request.
 * `publish` carries a frame with an `id`; its `ack` or `error` comes back through `host.frame`.
 */
export interface Transport {
  subscribe(spec: ChannelSpec): void;
  unsubscribe(channel: string): void;
  publish(frame: PublishFrame): void;
  /** A new token before the old one expires: the WebSocket sends `refresh`, a stream reopens with it. */
  refresh(token: string): void;
  /**
   * A `presence` or `history` request; resolves with the answer (`presence`/`history` frame, or the
   * endpoint's JSON). Rejects with a TidingsError when the server refused, and with anything else
   * when the connection was lost before the answer (the client asks again on the next one).
   */
  ask<T>(frame: AskFrame): Promise<T>;
  close(): void;
}

export interface TransportKind {
  /** The platform constructor it cannot work without. */
  needs: keyof Platform;
  open(host: TransportHost): Transport;
}
