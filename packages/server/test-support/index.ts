export * from './engine-contract.js';
export * from './engine-model.js';
export * from './listen.js';
export * from './round-robin-proxy.js';
export * from './scale-out.js';
export * from './scale-out-scenarios.js';
export * from './server-process.js';
export * from './wait-for.js';
