/**
 * Incremental text/event-stream parser: feeds each event's `data` (multi-line data joined by \n) to
 * `onData`. Comments, `id:` and `event:` lines are skipped; the bench only needs the payloads.
 */
export function eventStreamParser(onData: (data: string) => void): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let data: string | null = null;
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) {
          const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
          data = data === null ? value : `${data}\n${value}`;
        }
      }
      if (data !== null) onData(data);
      end = buffer.indexOf('\n\n');
    }
  };
}
