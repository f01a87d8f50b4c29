/** Subscribers grouped by channel, for the bare baselines (Socket.IO and Tidings have their own). */
export class Rooms<T> {
  private readonly rooms = new Map<string, Set<T>>();

  join(channel: string, member: T): () => void {
    let room = this.rooms.get(channel);
    if (!room) {
      room = new Set();
      this.rooms.set(channel, room);
    }
    const joined = room;
    joined.add(member);
    return () => joined.delete(member);
  }

  members(channel: string): ReadonlySet<T> | undefined {
    return this.rooms.get(channel);
  }

  *all(): Iterable<T> {
    for (const room of this.rooms.values()) yield* room;
  }
}
