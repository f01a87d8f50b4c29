import type { JetStreamClient, JetStreamManager, PubAck, StoredMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import type { RecordSource } from './history.js';
import { decodeRecord, type StoredRecord } from './record.js';
import { snapshotStreamName } from './streams.js';
import type { Subjects } from './subjects.js';

/**
 * The JetStream side of channels: single-message reads by direct get (answered by any replica, no
 * consumer needed) and conditional appends. Knows subjects and headers, not positions.
 */
export class ChannelLog {
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #snapStream: string;
  readonly #subjects: Subjects;
  readonly #timeout: number;

  constructor(jsm: JetStreamManager, stream: string, subjects: Subjects, timeoutMs: number) {
    this.#jsm = jsm;
    this.#js = jsm.jetstream();
    this.#stream = stream;
    this.#snapStream = snapshotStreamName(stream);
    this.#subjects = subjects;
    this.#timeout = timeoutMs;
  }

  /** The channel's newest stored message (its position), or null when the subject holds none. */
  async last(channel: string): Promise<StoredRecord | null> {
    const subject = this.#subjects.dataSubject(channel);
    const stored = await this.#jsm.direct.getMessage(this.#stream, { last_by_subj: subject });
    if (!stored) return null;
    const record = this.#decode(channel, stored);
    if (!record) {
      throw new TidingsError(
        ErrorCode.internal,
        `NATS subject ${subject} holds a message (seq ${stored.seq}) that Tidings did not write`,
      );
    }
    return record;
  }

  /** The channel's first message at or after stream sequence `seq`, skipping foreign ones. */
  async next(channel: string, seq: number): Promise<StoredRecord | null> {
    const subject = this.#subjects.dataSubject(channel);
    let from = Math.max(1, seq);
    for (;;) {
      const stored = await this.#jsm.direct.getMessage(this.#stream, { next_by_subj: subject, seq: from });
      if (!stored) return null;
      const record = this.#decode(channel, stored);
      if (record) return record;
      from = stored.seq + 1;
    }
  }

  source(channel: string): RecordSource {
    return { next: (seq) => this.next(channel, seq) };
  }

  /** The message at a stream sequence, if it is still stored and belongs to `channel`. */
  async at(channel: string, seq: number): Promise<StoredRecord | null> {
    const stored = await this.#jsm.direct.getMessage(this.#stream, { seq });
    if (!stored || stored.subject !== this.#subjects.dataSubject(channel)) return null;
    return this.#decode(channel, stored);
  }

  /**
   * Stores a message only if the subject's last stream sequence is still `expectedSeq` (0: the subject
   * is empty). Rejects with a wrong-last-sequence JetStreamApiError otherwise. With `msgId`, a repeat
   * within the duplicate window stores nothing and acks the original's sequence as a duplicate.
   */
  append(
    channel: string,
    data: string,
    headers: MsgHdrs,
    expectedSeq: number,
    msgId?: string,
  ): Promise<PubAck> {
    return this.#js.publish(this.#subjects.dataSubject(channel), data, {
      headers,
      expect: { lastSubjectSequence: expectedSeq },
      timeout: this.#timeout,
      ...(msgId === undefined ? {} : { msgID: msgId }),
    });
  }

  /**
   * Stores a message only if the stream's last stored message (on any subject) is the one published
   * with id `afterMsgId`: so it lands right after that one, which the caller sent just before it on the
   * same connection, without waiting for its acknowledgement. Rejects with "wrong last msg ID"
   * otherwise. `msgId`, when given, lets the next append be chained to this one (or is an idempotency key).
   */
  appendAfter(
    channel: string,
    data: string,
    headers: MsgHdrs,
    afterMsgId: string,
    msgId?: string,
  ): Promise<PubAck> {
    return this.#js.publish(this.#subjects.dataSubject(channel), data, {
      headers,
      expect: { lastMsgID: afterMsgId },
      timeout: this.#timeout,
      ...(msgId === undefined ? {} : { msgID: msgId }),
    });
  }

  async putSnapshot(channel: string, data: string, headers: MsgHdrs): Promise<void> {
    await this.#js.publish(this.#subjects.snapSubject(channel), data, { headers, timeout: this.#timeout });
  }

  async snapshot(channel: string): Promise<StoredRecord | null> {
    const stored = await this.#jsm.direct.getMessage(this.#snapStream, {
      last_by_subj: this.#subjects.snapSubject(channel),
    });
    return stored ? this.#decode(channel, stored) : null;
  }

  /** Channels with at least one stored message whose subject matches `pattern`. */
  async channels(pattern: string): Promise<string[]> {
    const info = await this.#jsm.streams.info(this.#stream, {
      subjects_filter: this.#subjects.dataSubject(pattern),
    });
    const names: string[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const channel = this.#subjects.channelOf(this.#subjects.data, subject);
      if (channel !== null) names.push(channel);
    }
    return names;
  }

  #decode(channel: string, stored: StoredMsg): StoredRecord | null {
    return decodeRecord(channel, stored.seq, stored.header, stored.string());
  }
}
