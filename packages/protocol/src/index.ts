export * from './channel.js';
export type { ChannelMap, Chosen, DataOf, DataOfEach, Untyped } from './channel-map.js';
export * from './constants.js';
export * from './errors.js';
export * from './frames.js';
export * from './position.js';
