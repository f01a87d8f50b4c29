import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { ErrorCode, isTidingsError, TidingsError } from '@tidings/protocol';

// "duplicate message id is in process": a clustered stream is still storing another append with the
// same Nats-Msg-Id (not in JetStreamApiCodes).
const DUPLICATE_IN_FLIGHT = 10158;
// "wrong last msg ID": the stream's last stored message is not the one a pipelined append named in
// `Nats-Expected-Last-Msg-Id` (not in JetStreamApiCodes).
const WRONG_LAST_MSG_ID = 10070;

/**
 * The append lost a race: its `Nats-Expected-Last-Subject-Sequence` no longer matched, an append with
 * the same id is still in flight, or (pipelined) the append it was chained to is not the stream's last
 * message. Nothing was stored; a fresh read and a retry settle each.
 */
export function isLostRace(error: unknown): boolean {
  return (
    isWrongLastSequence(error) ||
    (error instanceof JetStreamApiError &&
      (error.code === DUPLICATE_IN_FLIGHT || error.code === WRONG_LAST_MSG_ID))
  );
}

/** A pipelined append's predecessor was not the stream's last message when it arrived. */
export function isBrokenChain(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === WRONG_LAST_MSG_ID;
}

/** The append's `Nats-Expected-Last-Subject-Sequence` did not match: another append won the race. */
export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function unreachable(error: unknown): boolean {
  return (
    error instanceof TimeoutError ||
    error instanceof ConnectionError ||
    error instanceof ClosedConnectionError ||
    error instanceof DrainingConnectionError ||
    error instanceof NoRespondersError ||
    error instanceof RequestError ||
    // Not exported by @nats-io/jetstream: thrown when no JetStream answers.
    (error instanceof Error && error.name === 'JetStreamNotEnabled') ||
    // JetStream answers 503 while it has no leader or is starting: the same as unreachable to a caller.
    (error instanceof JetStreamApiError && error.status >= 500)
  );
}

/** Every failure leaves the engine as a TidingsError: ENGINE_UNAVAILABLE when retrying later may work. */
export function toTidingsError(error: unknown, action: string): TidingsError {
  if (isTidingsError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  if (unreachable(error)) {
    return new TidingsError(ErrorCode.engineUnavailable, `NATS ${action} failed: ${reason}`, undefined, {
      cause: error,
    });
  }
  return new TidingsError(ErrorCode.internal, `NATS ${action} failed: ${reason}`, undefined, {
    cause: error,
  });
}
