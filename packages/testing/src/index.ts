// The engine and presence contract suites and the model are published with @tidings/engine.
export * from '@tidings/engine/testing';
export * from './listen.js';
export * from './round-robin-proxy.js';
export * from './scale-out.js';
export * from './scale-out-scenarios.js';
export * from './server-process.js';
export * from './wait-for.js';
