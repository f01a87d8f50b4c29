export * from './channel.js';
export * from './constants.js';
export * from './errors.js';
export * from './frames.js';
export * from './position.js';
