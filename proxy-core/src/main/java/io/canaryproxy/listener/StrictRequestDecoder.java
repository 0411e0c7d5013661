package io.canaryproxy.listener;

import io.canaryproxy.internal.HttpTokens;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.FastThreadLocal;
import java.util.List;

/**
 * Netty's request decoder, made strict enough for a proxy (RFC 9112). Netty already rejects bad and duplicate
 * Content-Length values and transfer codings that do not end in chunked; this class adds what a proxy must not let
 * through because a backend could frame the bytes differently (request smuggling):
 *
 * <ul>
 *   <li>Content-Length together with Transfer-Encoding (Netty would drop the Content-Length and go on);</li>
 *   <li>obs-fold continuation lines (Netty joins them);</li>
 *   <li>a bare LF or a bare CR as a line end;</li>
 *   <li>control bytes in a header, whitespace or any non-token byte in a header name;</li>
 *   <li>more than one Host header (RFC 9112 3.2: a proxy and its upstream could pick different ones).</li>
 * </ul>
 *
 * <p>A violation produces a request whose decoder result is a {@link ProtocolViolation}; every byte after it is
 * discarded, since nothing that follows can be framed reliably. The head bytes are checked before Netty's decoder
 * consumes them, each byte once.
 *
 * <p>A head that arrives whole, as nearly all do, is turned into its request by {@link RequestHeadParser} when it has
 * the plain shape that parser takes, and by Netty's decoder otherwise; both make the same request of the same bytes.
 *
 * <p>It also remembers when the current request head began, so that the listener can cut off clients that send
 * their headers too slowly (slowloris), and can switch to passing raw bytes once a connection is upgraded. What a
 * client sends after a request that asks for an upgrade is held, not decoded, until the upstream's answer says
 * whether it is the new protocol's (a 101: {@link #switchToRaw()}) or the next request ({@link #resume()}).
 */
final class StrictRequestDecoder extends HttpRequestDecoder {

    private static final byte[] HOST = {'h', 'o', 's', 't'};
    /**
     * Where head bytes are copied for checking, a typical request head at a time: one array per event loop rather
     * than per connection, since idle connections are many and a check never spans two of them.
     */
    private static final FastThreadLocal<byte[]> SCAN_BLOCK = new FastThreadLocal<>() {
        @Override
        protected byte[] initialValue() {
            return new byte[512];
        }
    };

    /**
     * The most bytes held behind a request that asks for an upgrade (see {@link #held}) before the client is no
     * longer read: a client that need not wait for the 101 may send a little ahead, not without limit.
     */
    static final int MAX_HELD = 64 * 1024;

    /** No request head is being received. */
    static final long NO_HEAD = 0;

    private final int maxInitialLine;
    private final int maxHeaderSize;

    private boolean inHead = true;
    /**
     * Netty's decoder has been given no byte of the head now being received, so a head that comes whole can be
     * parsed here instead ({@link RequestHeadParser}); Netty's decoder then stays where it is, between requests.
     */
    private boolean parserIdle = true;
    private boolean rejected;
    private boolean raw;
    /** The request being decoded asks for an upgrade: what follows its end is to be held. */
    private boolean upgradeAsked;
    /**
     * A request that asks for an upgrade has ended, and what came after it waits, undecoded, for the upstream's
     * answer: decoded as HTTP it would be lost to the tunnel, or a partial line kept back from it.
     */
    private boolean held;
    private long headStartedNanos = NO_HEAD;

    // Incremental head scanner: bytes already validated but not yet consumed by Netty's decoder, and where in the
    // line grammar the last validated byte left us.
    private int validatedAhead;
    private int line;
    private int column;
    private boolean afterCr;
    private boolean inName;
    /** How many bytes of the header name now being read match "host", or -1 once it cannot be Host. */
    private int hostPrefix;
    private int hostLines;
    private boolean headEnded;
    /** Bytes of the head now being received have come. */
    private boolean headBegun;

    StrictRequestDecoder(HttpDecoderConfig config) {
        super(config);
        maxInitialLine = config.getMaxInitialLineLength();
        maxHeaderSize = config.getMaxHeaderSize();
    }

    static HttpDecoderConfig config(int maxInitialLine, int maxHeaderSize) {
        return new HttpDecoderConfig()
                .setMaxInitialLineLength(maxInitialLine)
                .setMaxHeaderSize(maxHeaderSize)
                .setMaxChunkSize(64 * 1024)
                // The head's bytes are checked by scanHead before Netty parses them, so the header objects need
                // not check every name and value again; trailers are not scanned and stay checked.
                .setHeadersFactory(RequestHeaders.FACTORY)
                .setTrailersFactory(DefaultHttpHeadersFactory.trailersFactory().withValidation(true))
                .setStrictLineParsing(true)
                .setAllowDuplicateContentLengths(false)
                .setUseRfc9112TransferEncoding(true);
    }

    /** When the head now being received began ({@link System#nanoTime()}), or {@link #NO_HEAD}. */
    long headStartedNanos() {
        return headStartedNanos;
    }

    /**
     * From now on every byte is passed on as it is: the connection carries an upgraded protocol.
     *
     * @return whether bytes held since the request that asked for it wait to be passed on (see {@link #held})
     */
    boolean switchToRaw() {
        raw = true;
        headStartedNanos = NO_HEAD;
        return release();
    }

    /**
     * The request that asked for an upgrade was answered without a switch: what the client sent after it is the
     * next request.
     *
     * @return whether held bytes wait to be decoded; they are, at the next read this decoder is given
     */
    boolean resume() {
        return release();
    }

    private boolean release() {
        if (!held) {
            return false;
        }
        held = false;
        ByteBuf waiting = internalBuffer();
        return waiting.isReadable();
    }

    /** Every byte from now on is dropped unread: the connection is closing. */
    void discardRest() {
        held = false;
        rejected = true;
        headStartedNanos = NO_HEAD;
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        if (held) {
            // The base class asks for another read when one decoded nothing and reading is off, as a decoder
            // waiting for the rest of a message would; held bytes wait for the upstream, not for more bytes.
            discardSomeReadBytes();
            ctx.fireChannelReadComplete();
            return;
        }
        super.channelReadComplete(ctx);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
        if (raw) {
            out.add(buffer.readRetainedSlice(buffer.readableBytes()));
            return;
        }
        if (rejected) {
            buffer.skipBytes(buffer.readableBytes());
            return;
        }
        if (held) {
            if (buffer.readableBytes() >= MAX_HELD) {
                ctx.channel().config().setAutoRead(false);
            }
            return;
        }
        int before = buffer.readerIndex();
        if (inHead && !headEnded) {
            String violation = scanHead(buffer);
            if (violation != null) {
                reject(buffer, out, violation);
                return;
            }
            if (headEnded && parserIdle) {
                HttpRequest request = RequestHeadParser.parse(buffer, before, validatedAhead, maxInitialLine,
                        maxHeaderSize);
                if (request != null) {
                    buffer.skipBytes(validatedAhead);
                    headStartedNanos = NO_HEAD;
                    out.add(request);
                    out.add(LastHttpContent.EMPTY_LAST_CONTENT);
                    startHead();
                    held = RequestRules.asksUpgrade(request);
                    return;
                }
            }
        }
        if (inHead) {
            parserIdle = false;
        }
        int produced = out.size();
        super.decode(ctx, buffer, out);
        if (inHead) {
            validatedAhead -= buffer.readerIndex() - before;
        }
        for (int i = produced; i < out.size(); i++) {
            Object msg = out.get(i);
            if (isBodyPiece(msg)) {
                continue;
            }
            if (((HttpObject) msg).decoderResult().isFailure()) {
                // Netty's decoder is in BAD_MESSAGE now and drops every later byte; nothing more is framed here.
                rejected = true;
                inHead = false;
                headStartedNanos = NO_HEAD;
                break;
            }
            if (msg instanceof HttpRequest) {
                inHead = false;
                headBegun = false;
                headStartedNanos = NO_HEAD;
                upgradeAsked = RequestRules.asksUpgrade((HttpRequest) msg);
            }
            if (msg instanceof LastHttpContent) {
                startHead();
                held = upgradeAsked;
                upgradeAsked = false;
            }
        }
        if (inHead && headBegun && headStartedNanos == NO_HEAD) {
            // Only a head still incomplete after this read is timed: most arrive whole and need no clock read.
            headStartedNanos = System.nanoTime();
        }
    }

    /**
     * Whether {@code msg} is a piece of a request body that does not end it, as Netty's decoder makes them: nearly
     * every message of an upload in small chunks, a million for a megabyte in one-byte chunks. Told by its exact
     * class, one comparison, where a type test against an interface the message does not implement
     * ({@code HttpRequest}, {@code LastHttpContent}) searches every interface it does.
     */
    static boolean isBodyPiece(Object msg) {
        return msg.getClass() == DefaultHttpContent.class;
    }

    @Override
    protected HttpMessage createMessage(String[] initialLine) throws Exception {
        if (!isHttpVersion(initialLine[2])) {
            // Netty upper-cases the name and takes any word before the slash: "http/1.1" and "FOO/1.1" would go
            // upstream as HTTP/1.1 requests that nginx and gunicorn refuse.
            throw new ProtocolViolation("malformed HTTP version");
        }
        if (!isToken(initialLine[0])) {
            throw new ProtocolViolation("malformed method");
        }
        HttpMessage request = super.createMessage(initialLine);
        // Netty parses the request line before the headers, and the scan has usually seen the whole head by then;
        // the headers of a head still arriving grow as they come.
        if (headEnded) {
            ((RequestHeaders) request.headers()).reserve(line - 1);
        }
        return request;
    }

    /** RFC 9112 2.3: {@code HTTP/} (case-sensitive), a digit, a dot, a digit. */
    static boolean isHttpVersion(String version) {
        return version.length() == 8 && version.startsWith("HTTP/") && isDigit(version.charAt(5))
                && version.charAt(6) == '.' && isDigit(version.charAt(7));
    }

    /** RFC 9110 5.6.2: one or more tchar; the line was read byte by byte into chars from 0 to 0xff. */
    private static boolean isToken(String word) {
        if (word.isEmpty()) {
            return false;
        }
        for (int i = 0; i < word.length(); i++) {
            char c = word.charAt(i);
            if (c > 0x7f || !HttpTokens.isTchar((byte) c)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    @Override
    protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
        // RFC 9112 6.3 lets a server drop Content-Length here; a proxy that forwards the request must not guess
        // which framing its upstream will believe, so the request is refused.
        throw new ProtocolViolation("both Content-Length and Transfer-Encoding");
    }

    private void startHead() {
        inHead = true;
        parserIdle = true;
        headBegun = false;
        headEnded = false;
        validatedAhead = 0;
        line = 0;
        column = 0;
        afterCr = false;
        inName = false;
        hostLines = 0;
    }

    /**
     * Validates the readable bytes of the head not validated yet; returns a violation or {@code null}. The bytes are
     * copied out in blocks and checked in the array: a bounds and reference-count check for every byte read from
     * the buffer would cost more than the checks themselves.
     */
    private String scanHead(ByteBuf buffer) {
        int start = buffer.readerIndex() + validatedAhead;
        int end = buffer.writerIndex();
        if (start < end) {
            headBegun = true;
        }
        byte[] block = SCAN_BLOCK.get();
        while (start < end && !headEnded) {
            int n = Math.min(end - start, block.length);
            buffer.getBytes(start, block, 0, n);
            String violation = scanBlock(block, n);
            if (violation != null) {
                return violation;
            }
            start += n;
        }
        return null;
    }

    /** Validates {@code n} bytes of the head; stops after the line that ends it. */
    private String scanBlock(byte[] block, int n) {
        for (int i = 0; i < n; i++) {
            byte b = block[i];
            validatedAhead++;
            if (afterCr) {
                if (b != '\n') {
                    return "bare CR in the request head";
                }
                afterCr = false;
                if (endLine()) {
                    return "header line without a colon";
                }
                if (headEnded) {
                    return null;
                }
                continue;
            }
            if (b == '\r') {
                afterCr = true;
                continue;
            }
            if (b == '\n') {
                return "bare LF as a line end";
            }
            if (line == 0) {
                // Bytes from 0x80 may stand in the target: RFC 9112 3.2 lets a server refuse them, but nginx and
                // gunicorn pass raw UTF-8 on, and a link that worked behind nginx should work here. The method and
                // the version are checked as tokens once the line is split (createMessage).
                if (b >= 0 && b < 0x20 || b == 0x7f) {
                    return "control byte in the request line";
                }
            } else if (column == 0 && (b == ' ' || b == '\t')) {
                return "obs-fold (a header continuation line)";
            } else if (inName) {
                if (b == ':') {
                    if (column == 0) {
                        return "empty header name";
                    }
                    inName = false;
                    if (hostPrefix == HOST.length && ++hostLines > 1) {
                        return "more than one Host header";
                    }
                } else if (!HttpTokens.isTchar(b)) {
                    return b == ' ' || b == '\t'
                            ? "whitespace in or after a header name"
                            : "invalid byte in a header name";
                } else if (hostPrefix >= 0) {
                    hostPrefix = hostPrefix < HOST.length && (b | 0x20) == HOST[hostPrefix] ? hostPrefix + 1 : -1;
                }
            } else if ((b >= 0 && b < 0x20 && b != '\t') || b == 0x7f) {
                // Bytes from 0x80 (negative here) are obs-text, which RFC 9110 5.5 allows in a value.
                return "control byte in a header value";
            }
            column++;
        }
        return null;
    }

    /** Ends a line; returns true when the line was a header line without a colon. */
    private boolean endLine() {
        boolean missingColon = false;
        if (column == 0) {
            // RFC 9112 2.2: empty lines before the request line are ignored; after it, one ends the head.
            if (line > 0) {
                headEnded = true;
            }
        } else {
            missingColon = line > 0 && inName;
            line++;
        }
        column = 0;
        inName = true;
        hostPrefix = 0;
        return missingColon;
    }

    private void reject(ByteBuf buffer, List<Object> out, String reason) {
        rejected = true;
        headStartedNanos = NO_HEAD;
        buffer.skipBytes(buffer.readableBytes());
        HttpRequest bad = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/");
        bad.setDecoderResult(DecoderResult.failure(new ProtocolViolation(reason)));
        out.add(bad);
    }

    /** A request the proxy refuses to frame; the message is safe to log. */
    static final class ProtocolViolation extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        ProtocolViolation(String reason) {
            super(reason, null);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this;
        }
    }
}
