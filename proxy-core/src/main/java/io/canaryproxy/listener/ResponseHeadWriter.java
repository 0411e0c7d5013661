package io.canaryproxy.listener;

import io.canaryproxy.internal.HttpDate;
import io.canaryproxy.upstream.ResponseHead;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;

/**
 * Writes an upstream response head for the client as bytes: the status line as HTTP/1.1 with the upstream's code
 * and reason, every header line the client should see copied as it came, then the proxy's own headers. Hop-by-hop
 * headers (RFC 9110 7.6.1) are left out; so are the framing headers when the body is re-framed for this hop, and
 * with them Trailer, which announces fields that only a chunked body can carry.
 */
final class ResponseHeadWriter {

    private static final byte[] CHUNKED = ascii("Transfer-Encoding: chunked\r\n");
    private static final byte[] CONTENT_LENGTH = ascii("Content-Length: ");
    private static final byte[] CONNECTION_CLOSE = ascii("Connection: close\r\n");
    private static final byte[] CONNECTION_KEEP_ALIVE = ascii("Connection: keep-alive\r\n");
    private static final byte[] SET_COOKIE = ascii("Set-Cookie: ");
    private static final byte[] SECURE = ascii("; Secure");
    private static final byte[] SERVED_BY = ascii("X-Served-By: ");
    private static final short CRLF_SHORT = '\r' << 8 | '\n';
    private static final AsciiString TRAILER = AsciiString.cached("trailer");

    // What a copy of the upstream's head leaves out, in each case; constants, so that choosing one allocates nothing.
    private static final ResponseHead.Omit HOP_BY_HOP = ResponseHead::isHopByHop;
    private static final ResponseHead.Omit HOP_BY_HOP_SERVED_BY =
            (h, i) -> h.isHopByHop(i) || h.nameIs(i, HeaderRewriter.X_SERVED_BY);
    private static final ResponseHead.Omit HOP_BY_HOP_FRAMING =
            (h, i) -> h.isHopByHop(i) || h.isFraming(i) || h.nameIs(i, TRAILER);
    private static final ResponseHead.Omit HOP_BY_HOP_FRAMING_SERVED_BY =
            (h, i) -> HOP_BY_HOP_FRAMING.test(h, i) || h.nameIs(i, HeaderRewriter.X_SERVED_BY);
    private static final ResponseHead.Omit FRAMING = ResponseHead::isFraming;
    private static final ResponseHead.Omit FRAMING_SERVED_BY =
            (h, i) -> h.isFraming(i) || h.nameIs(i, HeaderRewriter.X_SERVED_BY);

    private ResponseHeadWriter() {
    }

    /**
     * Writes the status line and the upstream's header lines, and the proxy's Transfer-Encoding and Connection
     * headers; {@link #end} finishes the head.
     *
     * @param dropFraming  leave out Content-Length, Transfer-Encoding and Trailer: the body goes to an HTTP/1.0
     *                     client raw, and its trailer fields, if any, are dropped
     * @param addChunked   add Transfer-Encoding: chunked: the proxy chunks a body the upstream ends by closing
     * @param close        the client connection closes after this response
     * @param http10Client the client speaks HTTP/1.0, which needs keep-alive said explicitly
     * @param dropServedBy leave out the upstream's X-Served-By: the proxy sets its own
     */
    static void write(ByteBuf out, ResponseHead head, boolean dropFraming, boolean addChunked, boolean close,
                      boolean http10Client, boolean dropServedBy) {
        head.writeHead(out, dropFraming
                ? dropServedBy ? HOP_BY_HOP_FRAMING_SERVED_BY : HOP_BY_HOP_FRAMING
                : dropServedBy ? HOP_BY_HOP_SERVED_BY : HOP_BY_HOP);
        if (!head.dated()) {
            out.writeBytes(HttpDate.headerLine());
        }
        if (addChunked) {
            out.writeBytes(CHUNKED);
        } else if (!dropFraming && head.lengthAsList()) {
            out.writeBytes(CONTENT_LENGTH);
            writeDecimal(out, head.contentLength());
            out.writeShort(CRLF_SHORT);
        }
        if (close) {
            out.writeBytes(CONNECTION_CLOSE);
        } else if (http10Client) {
            out.writeBytes(CONNECTION_KEEP_ALIVE);
        }
    }

    /**
     * A 101 response: every header but the framing ones, Connection and Upgrade included, since they say what the
     * switch is to; with {@code servedBy} (or {@code null}) as X-Served-By, as on any other response.
     */
    static void switchingProtocols(ByteBuf out, ResponseHead head, String servedBy) {
        head.writeHead(out, servedBy == null ? FRAMING : FRAMING_SERVED_BY);
        if (servedBy != null) {
            servedBy(out, servedBy);
        }
        end(out);
    }

    /** The bucket cookie of a new user. */
    static void setCookie(ByteBuf out, String prefix, int bucket, String attributes, boolean secure) {
        out.writeBytes(SET_COOKIE);
        ByteBufUtil.writeAscii(out, prefix);
        writeDecimal(out, bucket);
        ByteBufUtil.writeAscii(out, attributes);
        if (secure) {
            out.writeBytes(SECURE);
        }
        out.writeShort(CRLF_SHORT);
    }

    static void servedBy(ByteBuf out, String release) {
        out.writeBytes(SERVED_BY);
        ByteBufUtil.writeAscii(out, release);
        out.writeShort(CRLF_SHORT);
    }

    /** Ends the head with its empty line. */
    static void end(ByteBuf out) {
        out.writeShort(CRLF_SHORT);
    }

    private static void writeDecimal(ByteBuf out, long value) {
        if (value >= 10) {
            writeDecimal(out, value / 10);
        }
        out.writeByte((int) ('0' + value % 10));
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
