/**
 * Subject names of one engine namespace. Channel names are dot-separated tokens without `*`, `>` or
 * spaces, so a channel is a valid run of NATS subject tokens and our patterns (`chat.*`, `chat.>`) are
 * NATS wildcards with the same meaning.
 */
export class Subjects {
  /** Messages: `<prefix>.<channel>`, stored in the data stream. */
  readonly data: string;
  /** The data stream republishes each stored message here; live listeners subscribe to it. */
  readonly live: string;
  /** Snapshots: `<prefix>-snap.<channel>`, one per subject in the snapshot stream. */
  readonly snap: string;

  constructor(prefix: string) {
    this.data = prefix;
    this.live = `${prefix}-live`;
    this.snap = `${prefix}-snap`;
  }

  dataSubject(channelOrPattern: string): string {
    return `${this.data}.${channelOrPattern}`;
  }

  liveSubject(channelOrPattern: string): string {
    return `${this.live}.${channelOrPattern}`;
  }

  snapSubject(channel: string): string {
    return `${this.snap}.${channel}`;
  }

  /** The channel of a subject under `root` (one of the three above), or null if it is not under it. */
  channelOf(root: string, subject: string): string | null {
    return subject.length > root.length + 1 && subject.startsWith(`${root}.`)
      ? subject.slice(root.length + 1)
      : null;
  }
}
