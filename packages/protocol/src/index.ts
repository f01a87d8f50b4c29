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
