/**
 * The Tidings wire protocol as code: frame types, error codes, endpoints, defaults, channel names,
 * cursors and `TidingsError`. Shared by the server and the client.
 *
 * @module @tidings/protocol
 */
export * from './channel.js';
export type {
  ChannelMap,
  ChannelOf,
  Chosen,
  DataOf,
  DataOfEach,
  Strict,
  Untyped,
} from './channel-map.js';
export * from './constants.js';
export * from './errors.js';
export * from './frames.js';
export * from './position.js';
