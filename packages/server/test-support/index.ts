export * from './engine-contract.js';
export * from './engine-model.js';
export * from './listen.js';
export * from './wait-for.js';
