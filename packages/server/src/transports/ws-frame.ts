/**
 * A server-to-client WebSocket text frame (RFC 6455, unmasked, unfragmented, no compression) as one
 * buffer. Every connection subscribed to a channel writes the very same bytes for a message, so the
 * last frame encoded is kept: a fan-out encodes each message once, not once per connection.
 */
let lastText = '';
let lastFrame = textFrameOf('');

export function textFrame(text: string): Buffer {
  // Delivery passes the Envelope's one cached string, so a hit is a pointer comparison.
  if (text !== lastText) {
    lastFrame = textFrameOf(text);
    lastText = text;
  }
  return lastFrame;
}

function textFrameOf(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, 'utf8');
  return frame;
}
