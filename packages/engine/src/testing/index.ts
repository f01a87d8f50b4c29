/**
 * The contract suites every Tidings engine passes, for engine authors: `engineContract` (positions,
 * history, snapshots, idempotency, live streams, and a property test against `EngineModel`) and
 * `presenceContract`. They run under `node:test` and need `fast-check` (an optional peer dependency
 * of this package: install it beside `@tidings/engine` in the package whose tests use them).
 *
 * @module @tidings/engine/testing
 */
export { type EngineContractSetup, engineContract } from './engine-contract.js';
export {
  EngineModel,
  type ModelMessage,
  type ModelPublishOutcome,
  type ModelRead,
  type ModelSnapshot,
} from './engine-model.js';
export { eventually } from './eventually.js';
export { type PresenceContractSetup, presenceContract } from './presence-contract.js';
