package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * Where the frames of one direction of a WebSocket tunnel end (RFC 6455 5.2), so that the proxy can put a Close frame
 * of its own between two of them when it ends the tunnel: a client then sees the server going away (1001), which it
 * can tell from a dropped connection, and reconnects to the release now serving. Only frame headers are read;
 * payloads are skipped over by their length.
 */
final class WebSocketFrames {

    /** A Close frame from the server, status 1001 (going away), no reason: unmasked, as a server's frames are. */
    private static final ByteBuf GOING_AWAY = Unpooled.unreleasableBuffer(
            Unpooled.directBuffer(4, 4).writeByte(0x88).writeByte(0x02).writeShort(1001)).asReadOnly();

    /** The longest header: 2 bytes, an 8-byte length and a 4-byte masking key. */
    private final byte[] header = new byte[14];
    private int headerFill;
    private int headerSize = 2;
    private long payloadLeft;
    /** A length no peer may send was seen: where frames end is not known any more. */
    private boolean lost;
    /** The app sent a Close frame: the tunnel is ending from its side, and a second Close must not follow. */
    private boolean closeSent;

    /** A Close frame saying the server is going away, to write between two frames. */
    static ByteBuf goingAway() {
        return GOING_AWAY.duplicate();
    }

    /** Whether the bytes seen so far end with a whole frame (or are none); never once the frames were lost. */
    boolean atBoundary() {
        return headerFill == 0 && payloadLeft == 0 && !lost;
    }

    /** Whether frames can still be followed: false after a length no peer may send. */
    boolean followed() {
        return !lost;
    }

    /** Whether a Close frame from the app has been seen. */
    boolean closeSent() {
        return closeSent;
    }

    /**
     * Follows {@code length} bytes of {@code data} from {@code index}; with {@code stopAtBoundary}, only up to the
     * end of the frame under way. Returns how many bytes were followed.
     */
    int follow(ByteBuf data, int index, int length, boolean stopAtBoundary) {
        int at = index;
        int end = index + length;
        while (at < end && !lost) {
            if (stopAtBoundary && atBoundary()) {
                break;
            }
            if (payloadLeft > 0) {
                int skip = (int) Math.min(payloadLeft, end - at);
                payloadLeft -= skip;
                at += skip;
                continue;
            }
            header[headerFill++] = data.getByte(at++);
            if (headerFill == 2) {
                int length7 = header[1] & 0x7f;
                headerSize = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((header[1] & 0x80) != 0 ? 4 : 0);
            }
            if (headerFill >= 2 && headerFill == headerSize) {
                payloadLeft = payloadLength();
                lost = payloadLeft < 0;
                closeSent |= (header[0] & 0x0f) == 0x8;
                headerFill = 0;
                headerSize = 2;
            }
        }
        return lost ? length : at - index;
    }

    private long payloadLength() {
        int length7 = header[1] & 0x7f;
        if (length7 < 126) {
            return length7;
        }
        int bytes = length7 == 126 ? 2 : 8;
        long length = 0;
        for (int i = 0; i < bytes; i++) {
            length = length << 8 | (header[2 + i] & 0xff);
        }
        // RFC 6455 5.2: the most significant bit of an 8-byte length is 0; a peer that sets it is not followed.
        return length;
    }
}
