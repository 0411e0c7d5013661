package io.canaryproxy.upstream;

import io.canaryproxy.upstream.ResponseHead.Framing;
import io.canaryproxy.internal.HttpTokens;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.AsciiString;
import java.util.Arrays;

/**
 * Reads HTTP/1.1 responses from an upstream connection without building header objects: a response comes out as
 * one {@link ResponseHead} (located, classified header lines over the received bytes), the body as {@link Body}
 * ranges of the received buffers (chunk data only, for a chunked body) and a {@link ResponseEnd}. What cannot be
 * framed without doubt (RFC 9112: bad status line, conflicting Content-Length, obs-fold, whitespace before a colon,
 * control bytes, a bad chunk size) comes out as a {@link Malformed} and every byte after it is dropped: the
 * connection cannot be trusted again. After a 101 response every byte is passed on as it is.
 *
 * <p>The upstream answers one request at a time, so a byte that follows a complete response in the same read cannot
 * belong to anything: the connection is then not {@linkplain #clean() clean} and is not pooled again.
 */
final class ResponseDecoder extends ChannelInboundHandlerAdapter {

    /**
     * Body bytes as a range of the buffer being decoded, valid only during the call that receives it, like the head:
     * the decoder reuses it and still owns the buffer. A receiver that keeps the bytes takes a retained slice; one
     * that copies them (a small body joining its response head) needs no object per piece.
     */
    static final class Body {
        ByteBuf buffer;
        int index;
        int length;
    }

    /** A response the decoder refuses; the reason is for the log and the client-facing 502. */
    static final class Malformed {
        final String reason;

        Malformed(String reason) {
            this.reason = reason;
        }
    }

    /** How long a response head may be, status line and headers (nginx's proxy_buffer_size is 4 or 8 KiB). */
    static final int MAX_HEAD_SIZE = 64 * 1024;

    private static final byte CR = '\r';
    private static final byte LF = '\n';
    private static final int MAX_CHUNK_LINE = 4096;
    /** How much of a read is copied to look for a head at first: most response heads are shorter. */
    private static final int FIRST_COPY = 1024;

    private static final int HEAD = 0;
    private static final int LENGTH = 1;
    private static final int CHUNK_SIZE = 2;
    private static final int CHUNK_DATA = 3;
    private static final int CHUNK_END = 4;
    private static final int TRAILERS = 5;
    private static final int UNTIL_CLOSE = 6;
    private static final int RAW = 7;
    private static final int BROKEN = 8;

    private static final AsciiString CONTENT_LENGTH = AsciiString.cached("content-length");
    private static final AsciiString TRANSFER_ENCODING = AsciiString.cached("transfer-encoding");
    private static final AsciiString CONNECTION = AsciiString.cached("connection");
    private static final AsciiString KEEP_ALIVE = AsciiString.cached("keep-alive");
    private static final AsciiString PROXY_CONNECTION = AsciiString.cached("proxy-connection");
    private static final AsciiString TE = AsciiString.cached("te");
    private static final AsciiString UPGRADE = AsciiString.cached("upgrade");
    private static final AsciiString PROXY_AUTHORIZATION = AsciiString.cached("proxy-authorization");
    private static final AsciiString CLOSE = AsciiString.cached("close");
    private static final AsciiString CHUNKED = AsciiString.cached("chunked");
    private static final AsciiString DATE = AsciiString.cached("date");

    private final int maxHeadSize;
    private final ResponseHead head = new ResponseHead();
    private final Body body = new Body();
    /** The head being parsed, copied out of the buffer (see {@link #readHead}); grows up to the head size limit. */
    private byte[] bytes = new byte[FIRST_COPY];
    /** How much of the head now being read {@link #bytes} holds, from the reader index on. */
    private int copied;
    private ByteBuf cumulation;
    private int state = HEAD;
    private long remaining;
    private boolean bodyless;
    private boolean garbage;

    ResponseDecoder(int maxHeadSize) {
        this.maxHeadSize = maxHeadSize;
    }

    /** The response to come answers a HEAD request: whatever its headers say, it has no body. */
    void expectBodyless(boolean value) {
        bodyless = value;
    }

    /** Between two responses, with nothing left over: the connection can carry another request. */
    boolean clean() {
        return state == HEAD && cumulation == null && !garbage;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf)) {
            ctx.fireChannelRead(msg);
            return;
        }
        ByteBuf in = (ByteBuf) msg;
        if (cumulation != null) {
            in = ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
            cumulation = null;
        }
        try {
            decode(ctx, in);
        } finally {
            if (in.isReadable() && ctx.channel().isOpen()) {
                cumulation = in;
            } else {
                in.release();
            }
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseCumulation();
        if (state == UNTIL_CLOSE) {
            // The close is the end of this body (RFC 9112 6.3, item 8).
            state = HEAD;
            ctx.fireChannelRead(ResponseEnd.NO_TRAILERS);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseCumulation();
    }

    private void releaseCumulation() {
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
    }

    private void decode(ChannelHandlerContext ctx, ByteBuf in) {
        while (in.isReadable()) {
            if (!ctx.channel().isOpen()) {
                // Given up on by its holder: nothing here is wanted any more.
                in.skipBytes(in.readableBytes());
                return;
            }
            switch (state) {
                case HEAD:
                    if (!readHead(ctx, in)) {
                        return;
                    }
                    break;
                case LENGTH:
                    if (passBody(ctx, in)) {
                        end(ctx, in, null);
                    }
                    break;
                case CHUNK_SIZE:
                    if (!readChunkSize(ctx, in)) {
                        return;
                    }
                    break;
                case CHUNK_DATA:
                    if (passBody(ctx, in)) {
                        state = CHUNK_END;
                    }
                    break;
                case CHUNK_END:
                    if (!readChunkEnd(ctx, in)) {
                        return;
                    }
                    break;
                case TRAILERS:
                    if (!readTrailers(ctx, in)) {
                        return;
                    }
                    break;
                case UNTIL_CLOSE:
                case RAW:
                    passOn(ctx, in, in.readableBytes());
                    break;
                default:
                    in.skipBytes(in.readableBytes());
                    return;
            }
        }
    }

    /** Passes on as much of the remaining body (or chunk) as is here; true once all of it has gone. */
    private boolean passBody(ChannelHandlerContext ctx, ByteBuf in) {
        int n = (int) Math.min(remaining, in.readableBytes());
        remaining -= n;
        passOn(ctx, in, n);
        return remaining == 0;
    }

    /** Passes on the next {@code n} readable bytes as the body range and reads past them. */
    private void passOn(ChannelHandlerContext ctx, ByteBuf in, int n) {
        Body b = body;
        b.buffer = in;
        b.index = in.readerIndex();
        b.length = n;
        try {
            ctx.fireChannelRead(b);
        } finally {
            b.buffer = null;
        }
        in.skipBytes(n);
    }

    /**
     * Reads a whole response head if it is there; false when more bytes are needed. The head is parsed from a copy
     * in {@link #bytes}: one bulk copy costs less than a bounds and reference-count check on every byte read from
     * the buffer, and the lines the client gets are then copied out of the array in runs.
     */
    private boolean readHead(ChannelHandlerContext ctx, ByteBuf in) {
        int readable = Math.min(in.readableBytes(), maxHeadSize);
        copied = copyHead(in, 0, Math.min(readable, FIRST_COPY));
        int lf = nextLf(in, 0, readable);
        if (lf < 0) {
            return needMore(ctx, in, readable);
        }
        byte[] b = bytes;
        ResponseHead h = head;
        h.reset(b);
        int lineEnd = lineEnd(b, 0, lf);
        String problem = statusLine(b, lineEnd);
        if (problem != null) {
            return malformed(ctx, in, problem);
        }
        boolean close = false;
        boolean keepAliveOption = false;
        boolean otherOptions = false;
        boolean hasTransferEncoding = false;
        boolean chunked = false;
        long contentLength = -1;
        boolean lengthAsList = false;
        int pos = lf + 1;
        while (true) {
            lf = nextLf(in, pos, readable);
            if (lf < 0) {
                return needMore(ctx, in, readable);
            }
            b = bytes; // the copy may have grown to reach this line
            h.bytes = b;
            lineEnd = lineEnd(b, pos, lf);
            if (lineEnd == pos) {
                pos = lf + 1;
                break;
            }
            problem = fieldLine(b, pos, lineEnd);
            if (problem != null) {
                return malformed(ctx, in, problem + " in the response head");
            }
            int colon = fieldColon;
            int vs = fieldValueStart;
            int ve = fieldValueEnd;
            int i = h.addLine(pos, colon, vs, ve, lf + 1);
            int nameLength = colon - pos;
            if (nameLength == 14 && equalsIgnoreCase(b, pos, CONTENT_LENGTH)) {
                long value = contentLength(b, vs, ve);
                if (value < 0) {
                    return malformed(ctx, in, "bad Content-Length in the response");
                }
                if (contentLength < 0) {
                    contentLength = value;
                    if (isList(b, vs, ve)) {
                        h.kinds[i] = ResponseHead.DUPLICATE;
                        lengthAsList = true;
                    } else {
                        h.kinds[i] = ResponseHead.CONTENT_LENGTH;
                    }
                } else if (contentLength == value && lengthAsList && !isList(b, vs, ve)) {
                    // A plain line after the list: it stands for both.
                    h.kinds[i] = ResponseHead.CONTENT_LENGTH;
                    lengthAsList = false;
                } else if (contentLength == value) {
                    h.kinds[i] = ResponseHead.DUPLICATE;
                } else {
                    return malformed(ctx, in, "conflicting Content-Length values in the response");
                }
            } else if (nameLength == 17 && equalsIgnoreCase(b, pos, TRANSFER_ENCODING)) {
                hasTransferEncoding = true;
                chunked = lastTokenIs(b, vs, ve, CHUNKED);
                h.kinds[i] = ResponseHead.TRANSFER_ENCODING;
            } else if (nameLength == 10 && equalsIgnoreCase(b, pos, CONNECTION)) {
                h.kinds[i] = ResponseHead.HOP_BY_HOP;
                int options = connectionOptions(b, vs, ve);
                close |= (options & OPTION_CLOSE) != 0;
                keepAliveOption |= (options & OPTION_KEEP_ALIVE) != 0;
                otherOptions |= (options & OPTION_OTHER) != 0;
            } else if (isHopByHopName(b, pos, nameLength)) {
                h.kinds[i] = ResponseHead.HOP_BY_HOP;
            } else if (nameLength == 4 && equalsIgnoreCase(b, pos, DATE)) {
                h.dated = true;
            }
            pos = lf + 1;
        }
        if (otherOptions) {
            markConnectionOptions(h);
        }

        int status = h.status;
        if (bodyless || status < 200 || status == 204 || status == 304) {
            h.framing = Framing.NONE;
            h.contentLength = contentLength;
        } else if (hasTransferEncoding) {
            // RFC 9112 6.1: Transfer-Encoding overrides Content-Length, which must not be passed on.
            h.framing = chunked ? Framing.CHUNKED : Framing.UNTIL_CLOSE;
            for (int k = 0; k < h.count; k++) {
                if (h.kinds[k] == ResponseHead.CONTENT_LENGTH) {
                    h.kinds[k] = ResponseHead.DUPLICATE;
                }
            }
        } else if (contentLength >= 0) {
            h.framing = Framing.LENGTH;
            h.contentLength = contentLength;
            h.lengthAsList = lengthAsList;
        } else {
            h.framing = Framing.UNTIL_CLOSE;
        }
        // RFC 9112 6.1: Transfer-Encoding with Content-Length, or in an HTTP/1.0 message, may be an attempt at
        // response splitting. The body is read by Transfer-Encoding, and what might follow it is not read as the
        // next request's response: the connection is not used again.
        boolean suspectFraming = hasTransferEncoding && (contentLength >= 0 || !h.http11);
        h.keepAlive = (h.http11 ? !close : keepAliveOption) && h.framing != Framing.UNTIL_CLOSE && !suspectFraming;

        ctx.fireChannelRead(h);
        in.skipBytes(pos);
        if (status == 101) {
            state = RAW;
        } else if (status < 200) {
            state = HEAD; // an interim response: the final one follows
        } else {
            switch (h.framing) {
                case LENGTH:
                    remaining = contentLength;
                    if (remaining == 0) {
                        end(ctx, in, null);
                    } else {
                        state = LENGTH;
                    }
                    break;
                case CHUNKED:
                    state = CHUNK_SIZE;
                    break;
                case UNTIL_CLOSE:
                    state = UNTIL_CLOSE;
                    break;
                default:
                    end(ctx, in, null);
            }
        }
        return true;
    }

    /**
     * Copies the readable bytes of {@code in} from offset {@code from} up to {@code to} into {@link #bytes} at the
     * same offsets, growing the array when needed; returns {@code to}.
     */
    private int copyHead(ByteBuf in, int from, int to) {
        if (bytes.length < to) {
            bytes = Arrays.copyOf(bytes, Math.max(to, Math.min(bytes.length * 2, maxHeadSize)));
        }
        in.getBytes(in.readerIndex() + from, bytes, from, to - from);
        return to;
    }

    /**
     * The next LF of the head at or after {@code from}, copying more of {@code in} while none is found, up to
     * {@code readable} bytes; -1 when there is none yet.
     */
    private int nextLf(ByteBuf in, int from, int readable) {
        int lf = indexOfLf(bytes, from, copied);
        while (lf < 0 && copied < readable) {
            int more = copied;
            copied = copyHead(in, copied, Math.min(readable, copied * 2));
            lf = indexOfLf(bytes, more, copied);
        }
        return lf;
    }

    private static int indexOfLf(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == LF) {
                return i;
            }
        }
        return -1;
    }

    /** Not all of a head or trailer section is here: waits for more, unless {@code examined} bytes are too many. */
    private boolean needMore(ChannelHandlerContext ctx, ByteBuf in, int examined) {
        if (examined >= maxHeadSize) {
            return malformed(ctx, in, "response head over " + maxHeadSize + " bytes");
        }
        return false;
    }

    /** Parses {@code HTTP/1.x SP 3DIGIT [SP reason]} at the start of the head; null when fine, else what is wrong. */
    private String statusLine(byte[] b, int end) {
        if (end < 12 || b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' || b[5] != '1'
                || b[6] != '.' || b[8] != ' ') {
            return "bad status line from the upstream";
        }
        byte minor = b[7];
        if (minor < '0' || minor > '9') {
            return "bad HTTP version from the upstream";
        }
        int status = 0;
        for (int i = 9; i < 12; i++) {
            byte d = b[i];
            if (d < '0' || d > '9') {
                return "bad status code from the upstream";
            }
            status = status * 10 + d - '0';
        }
        if (status < 100 || status > 599 || end > 12 && b[12] != ' ') {
            return "bad status code from the upstream";
        }
        if (hasControlByte(b, 13, end)) {
            return "control byte in the status line";
        }
        head.status = status;
        head.http11 = minor != '0';
        head.statusStart = 9;
        head.statusEnd = end;
        return null;
    }

    private boolean readChunkSize(ChannelHandlerContext ctx, ByteBuf in) {
        int start = in.readerIndex();
        int limit = Math.min(in.writerIndex(), start + MAX_CHUNK_LINE);
        int lf = in.indexOf(start, limit, LF);
        if (lf < 0) {
            return in.readableBytes() >= MAX_CHUNK_LINE ? malformed(ctx, in, "chunk size line too long") : false;
        }
        // Parsed from a copy, like the head: the line is short and every byte of it is looked at.
        int n = copyHead(in, 0, lf - start);
        byte[] b = bytes;
        int end = lineEnd(b, 0, n);
        long size = 0;
        int i = 0;
        for (; i < end; i++) {
            int digit = Character.digit(b[i], 16);
            if (digit < 0) {
                break;
            }
            if (i >= 15) {
                return malformed(ctx, in, "chunk size too large");
            }
            size = size << 4 | digit;
        }
        if (i == 0) {
            return malformed(ctx, in, "bad chunk size");
        }
        i = skipWhitespace(b, i, end);
        if (i < end && b[i] != ';') {
            return malformed(ctx, in, "bad chunk size");
        }
        if (hasControlByte(b, i, end)) {
            return malformed(ctx, in, "control byte in a chunk extension");
        }
        in.readerIndex(lf + 1);
        if (size == 0) {
            state = TRAILERS;
        } else {
            remaining = size;
            state = CHUNK_DATA;
        }
        return true;
    }

    private boolean readChunkEnd(ChannelHandlerContext ctx, ByteBuf in) {
        int start = in.readerIndex();
        byte b = in.getByte(start);
        if (b == LF) {
            in.skipBytes(1);
        } else if (b == CR) {
            if (in.readableBytes() < 2) {
                return false;
            }
            if (in.getByte(start + 1) != LF) {
                return malformed(ctx, in, "chunk data not followed by CRLF");
            }
            in.skipBytes(2);
        } else {
            return malformed(ctx, in, "chunk data not followed by CRLF");
        }
        state = CHUNK_SIZE;
        return true;
    }

    /** Reads the trailer section after the last chunk; the fields are passed on as {@code name: value} lines. */
    private boolean readTrailers(ChannelHandlerContext ctx, ByteBuf in) {
        // Trailers are rare: the section is simply copied whole, up to the head size limit, and parsed there.
        int readable = Math.min(in.readableBytes(), maxHeadSize);
        copyHead(in, 0, readable);
        byte[] b = bytes;
        int pos = 0;
        int fields = 0;
        // First find the end, so that a section split over reads is parsed once.
        while (true) {
            int lf = indexOfLf(b, pos, readable);
            if (lf < 0) {
                return needMore(ctx, in, readable);
            }
            boolean empty = lineEnd(b, pos, lf) == pos;
            pos = lf + 1;
            if (empty) {
                break;
            }
            fields++;
        }
        int sectionEnd = pos;
        ByteBuf trailers = null;
        if (fields > 0) {
            trailers = ctx.alloc().buffer(sectionEnd + 2 * fields);
            int p = 0;
            while (p < sectionEnd) {
                int lf = indexOfLf(b, p, sectionEnd);
                int end = lineEnd(b, p, lf);
                if (end == p) {
                    break;
                }
                String problem = trailerLine(b, p, end, trailers);
                if (problem != null) {
                    trailers.release();
                    return malformed(ctx, in, problem);
                }
                p = lf + 1;
            }
            if (!trailers.isReadable()) {
                trailers.release();
                trailers = null;
            }
        }
        in.skipBytes(sectionEnd);
        end(ctx, in, trailers);
        return true;
    }

    /** Checks one trailer field line and appends it, unless it is one that must not come in a trailer. */
    private String trailerLine(byte[] b, int start, int end, ByteBuf out) {
        String problem = fieldLine(b, start, end);
        if (problem != null) {
            return problem + " in the trailers";
        }
        int n = fieldColon - start;
        if (n == 14 && equalsIgnoreCase(b, start, CONTENT_LENGTH)
                || n == 17 && equalsIgnoreCase(b, start, TRANSFER_ENCODING)
                || n == 10 && equalsIgnoreCase(b, start, CONNECTION)
                || isHopByHopName(b, start, n)) {
            return null; // framing and hop-by-hop fields have no place in a trailer (RFC 9110 6.5.1)
        }
        ResponseHead.writeField(out, b, start, fieldColon, fieldValueStart, fieldValueEnd);
        return null;
    }

    // Where the field line last checked by fieldLine has its colon and its value, without surrounding whitespace.
    private int fieldColon;
    private int fieldValueStart;
    private int fieldValueEnd;

    /**
     * Checks one field line of a head or a trailer section (RFC 9112 5) and locates its parts; null when it is
     * fine, else what is wrong with it.
     */
    private String fieldLine(byte[] b, int start, int end) {
        if (b[end - 1] == CR) {
            return "bare CR";
        }
        byte first = b[start];
        if (first == ' ' || first == '\t') {
            // RFC 9112 5.2: a proxy may answer obs-fold in a response with a 502.
            return "obs-fold line";
        }
        int colon = start;
        while (colon < end && HttpTokens.isTchar(b[colon])) {
            colon++;
        }
        if (colon == end || colon == start || b[colon] != ':') {
            return "bad field line";
        }
        int vs = colon + 1;
        int ve = end;
        if (hasControlByte(b, vs, ve)) {
            return "control byte in a field value";
        }
        vs = skipWhitespace(b, vs, ve);
        fieldColon = colon;
        fieldValueStart = vs;
        fieldValueEnd = trimWhitespace(b, vs, ve);
        return null;
    }

    /** Whether a control byte other than HTAB (or DEL) lies in [from, to): RFC 9110 5.5 allows none in a value. */
    private static boolean hasControlByte(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            int c = b[i] & 0xff;
            if (c < 0x20 && c != '\t' || c == 0x7f) {
                return true;
            }
        }
        return false;
    }

    private void end(ChannelHandlerContext ctx, ByteBuf in, ByteBuf trailers) {
        bodyless = false;
        if (in.isReadable()) {
            garbage = true;
            state = BROKEN;
            in.skipBytes(in.readableBytes());
        } else {
            state = HEAD;
        }
        ctx.fireChannelRead(trailers == null ? ResponseEnd.NO_TRAILERS : new ResponseEnd(trailers));
    }

    private boolean malformed(ChannelHandlerContext ctx, ByteBuf in, String reason) {
        state = BROKEN;
        in.skipBytes(in.readableBytes());
        ctx.fireChannelRead(new Malformed(reason));
        return false;
    }

    /** The end of the line whose LF is at {@code lf}: before its CR if there is one. */
    private static int lineEnd(byte[] b, int start, int lf) {
        return lf > start && b[lf - 1] == CR ? lf - 1 : lf;
    }

    private static boolean isWhitespace(byte b) {
        return b == ' ' || b == '\t';
    }

    /** The first index in [from, to) whose byte is not SP or HTAB, or {@code to}. */
    private static int skipWhitespace(byte[] b, int from, int to) {
        while (from < to && isWhitespace(b[from])) {
            from++;
        }
        return from;
    }

    /** Where [from, to) ends without the SP and HTAB bytes at its end. */
    private static int trimWhitespace(byte[] b, int from, int to) {
        while (to > from && isWhitespace(b[to - 1])) {
            to--;
        }
        return to;
    }

    private static boolean isHopByHopName(byte[] b, int start, int length) {
        switch (length) {
            case 2:
                return equalsIgnoreCase(b, start, TE);
            case 7:
                return equalsIgnoreCase(b, start, UPGRADE);
            case 10:
                return equalsIgnoreCase(b, start, KEEP_ALIVE);
            case 16:
                return equalsIgnoreCase(b, start, PROXY_CONNECTION);
            case 19:
                return equalsIgnoreCase(b, start, PROXY_AUTHORIZATION);
            default:
                return false;
        }
    }

    /** Whether the bytes at {@code start} spell {@code lower} (lower-case ASCII), ignoring case. */
    static boolean equalsIgnoreCase(byte[] b, int start, AsciiString lower) {
        int n = lower.length();
        byte[] l = lower.array();
        int o = lower.arrayOffset();
        for (int i = 0; i < n; i++) {
            if (lower(b[start + i]) != l[o + i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean isList(byte[] b, int start, int end) {
        for (int i = start; i < end; i++) {
            if (b[i] == ',') {
                return true;
            }
        }
        return false;
    }

    /** A 1*DIGIT value, or -1; a list of equal values ("5, 5") counts as one (RFC 9110 8.6). */
    private static long contentLength(byte[] b, int start, int end) {
        long value = -1;
        long current = -1;
        for (int i = start; i <= end; i++) {
            byte c = i < end ? b[i] : (byte) ',';
            if (c >= '0' && c <= '9') {
                current = current < 0 ? c - '0' : current * 10 + c - '0';
                if (current > 1L << 50) {
                    return -1;
                }
            } else if (c == ',') {
                if (current < 0 || value >= 0 && value != current) {
                    return -1;
                }
                value = current;
                current = -1;
                while (i + 1 < end && isWhitespace(b[i + 1])) {
                    i++;
                }
            } else {
                return -1;
            }
        }
        return value;
    }

    private static boolean lastTokenIs(byte[] b, int start, int end, AsciiString lower) {
        int n = lower.length();
        return end - start >= n && equalsIgnoreCase(b, end - n, lower)
                && (end - start == n || b[end - n - 1] == ',' || isWhitespace(b[end - n - 1]));
    }

    private static final int OPTION_CLOSE = 1;
    private static final int OPTION_KEEP_ALIVE = 2;
    private static final int OPTION_OTHER = 4;

    private int connectionOptions(byte[] b, int start, int end) {
        int options = 0;
        int p = start;
        while (p < end) {
            p = nextElement(b, p, end);
            int a = elementStart;
            int n = elementEnd - a;
            if (n == 5 && equalsIgnoreCase(b, a, CLOSE)) {
                options |= OPTION_CLOSE;
            } else if (n == 10 && equalsIgnoreCase(b, a, KEEP_ALIVE)) {
                options |= OPTION_KEEP_ALIVE;
            } else if (n > 0 && !(n == 7 && equalsIgnoreCase(b, a, UPGRADE))) {
                options |= OPTION_OTHER;
            }
        }
        return options;
    }

    /** RFC 9110 7.6.1: the headers a Connection header names are hop-by-hop as well (framing ones excepted). */
    private void markConnectionOptions(ResponseHead h) {
        byte[] b = h.bytes;
        for (int c = 0; c < h.count; c++) {
            if (h.kinds[c] != ResponseHead.HOP_BY_HOP || !h.nameIs(c, CONNECTION)) {
                continue;
            }
            int p = h.lines[ResponseHead.LINE * c + 2];
            int end = h.lines[ResponseHead.LINE * c + 3];
            while (p < end) {
                p = nextElement(b, p, end);
                int a = elementStart;
                int n = elementEnd - a;
                for (int i = 0; i < h.count; i++) {
                    int ns = h.lines[ResponseHead.LINE * i];
                    if (h.kinds[i] == ResponseHead.OTHER && h.lines[ResponseHead.LINE * i + 1] - ns == n
                            && regionEqualsIgnoreCase(b, ns, a, n)) {
                        h.kinds[i] = ResponseHead.HOP_BY_HOP;
                        if (n == 4 && h.nameIs(i, DATE)) {
                            // Not passed on, so the proxy adds its own (RFC 9110 6.6.1).
                            h.dated = false;
                        }
                    }
                }
            }
        }
    }

    // The element of a comma-separated list last found by nextElement, without surrounding whitespace.
    private int elementStart;
    private int elementEnd;

    /** Finds the list element that starts at {@code p}; returns where the next one starts. */
    private int nextElement(byte[] b, int p, int end) {
        int e = p;
        while (e < end && b[e] != ',') {
            e++;
        }
        int x = skipWhitespace(b, p, e);
        elementStart = x;
        elementEnd = trimWhitespace(b, x, e);
        return e + 1;
    }

    private static int lower(byte b) {
        return b >= 'A' && b <= 'Z' ? b + 32 : b;
    }

    private static boolean regionEqualsIgnoreCase(byte[] b, int x, int y, int n) {
        for (int i = 0; i < n; i++) {
            if (lower(b[x + i]) != lower(b[y + i])) {
                return false;
            }
        }
        return true;
    }
}
