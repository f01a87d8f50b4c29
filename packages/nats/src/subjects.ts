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
  /** Presence members: `<prefix>-pres.<channel>.<client token>`, one per subject in the presence stream. */
  readonly pres: string;
  /** The presence stream republishes each entry here (`<prefix>-presence.<channel>.<client token>`): the events. */
  readonly presEvents: string;

  constructor(prefix: string) {
    this.data = prefix;
    this.live = `${prefix}-live`;
    this.snap = `${prefix}-snap`;
    this.pres = `${prefix}-pres`;
    this.presEvents = `${prefix}-presence`;
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

  /** The subject of one member: its client id is encoded as one token (any string may be a client id). */
  memberSubject(channel: string, client: string): string {
    return `${this.pres}.${channel}.c${Buffer.from(client, 'utf8').toString('base64url')}`;
  }

  /** Every member subject of one channel, and only of it: the client is exactly one token more. */
  membersFilter(channel: string): string {
    return `${this.pres}.${channel}.*`;
  }

  /** The client id of a member subject. */
  clientOf(subject: string): string {
    const token = subject.slice(subject.lastIndexOf('.') + 2);
    return Buffer.from(token, 'base64url').toString('utf8');
  }

  /**
   * The republished entries of the channels a channel or pattern names: one token more than the
   * channel. `chat.>` already covers that token, but also the members of `chat` itself, which the
   * listener filters out.
   */
  presEventFilter(channelOrPattern: string): string {
    const subject = `${this.presEvents}.${channelOrPattern}`;
    return channelOrPattern.endsWith('>') ? subject : `${subject}.*`;
  }

  /** The channel of a member subject under `root` (`pres` or `presEvents`), or null if not under it. */
  channelOfMember(root: string, subject: string): string | null {
    const last = subject.lastIndexOf('.');
    return last > root.length + 1 && subject.startsWith(`${root}.`)
      ? subject.slice(root.length + 1, last)
      : null;
  }

  /** The channel of a subject under `root` (one of the roots above), or null if it is not under it. */
  channelOf(root: string, subject: string): string | null {
    return subject.length > root.length + 1 && subject.startsWith(`${root}.`)
      ? subject.slice(root.length + 1)
      : null;
  }
}
