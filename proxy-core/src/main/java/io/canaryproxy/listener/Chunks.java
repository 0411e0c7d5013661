package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;

/**
 * The chunk framing (RFC 9112 7.1) the proxy writes itself: for a response body the upstream ended by closing or
 * chunked for a client that can take chunks, and for a chunked request body, which the client-side decoder has
 * taken apart.
 */
final class Chunks {

    private static final short CRLF_SHORT = '\r' << 8 | '\n';
    private static final ByteBuf CRLF = Unpooled.unreleasableBuffer(
            Unpooled.directBuffer(2, 2).writeShort(CRLF_SHORT)).asReadOnly();

    private Chunks() {
    }

    /** The size line of a chunk the proxy makes. */
    static ByteBuf size(ByteBufAllocator alloc, int size) {
        ByteBuf line = alloc.buffer(10);
        int shift = (31 - Integer.numberOfLeadingZeros(size)) & ~3;
        for (; shift >= 0; shift -= 4) {
            line.writeByte(Character.forDigit((size >>> shift) & 0xf, 16));
        }
        line.writeShort(CRLF_SHORT);
        return line;
    }

    /** The CRLF after a chunk's data. */
    static ByteBuf crlf() {
        return CRLF.duplicate();
    }

    /** The last chunk, with trailer fields ({@code name: value\r\n} lines) if there are any, and the end of the body. */
    static ByteBuf last(ByteBufAllocator alloc, ByteBuf trailers) {
        int size = trailers == null ? 0 : trailers.readableBytes();
        ByteBuf out = alloc.buffer(5 + size);
        out.writeByte('0');
        out.writeShort(CRLF_SHORT);
        if (trailers != null) {
            out.writeBytes(trailers, trailers.readerIndex(), size);
        }
        out.writeShort(CRLF_SHORT);
        return out;
    }
}
