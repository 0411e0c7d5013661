package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import io.netty.util.CharsetUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes the head of a request as its upstream gets it, straight into the output buffer: the client's headers are
 * filtered as they are copied and the proxy's own are appended, so nothing is added to or removed from the decoded
 * headers. Hop-by-hop headers go (RFC 9110 7.6.1), underscore names go (gunicorn maps {@code X_Forwarded_For} and
 * {@code X-Forwarded-For} to the same WSGI key), the {@code X-Forwarded-*} set is the proxy's own unless the client
 * is a trusted proxy, a request id is added when absent, and the upstream learns which release it runs as. The
 * request line always says HTTP/1.1. (Responses: see {@link ResponseHeadWriter}.)
 */
final class HeaderRewriter {

    static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
    static final AsciiString X_REQUEST_ID = AsciiString.cached("x-request-id");
    static final AsciiString X_CANARY_RELEASE = AsciiString.cached("x-canary-release");
    static final AsciiString X_SERVED_BY = AsciiString.cached("x-served-by");
    static final AsciiString FORWARDED = AsciiString.cached("forwarded");
    static final AsciiString PROXY_CONNECTION = AsciiString.cached("proxy-connection");
    static final AsciiString X_REAL_IP = AsciiString.cached("x-real-ip");
    private static final AsciiString X_FORWARDED_PREFIX = AsciiString.cached("x-forwarded-");

    private static final byte[] HTTP_11 = ascii(" HTTP/1.1\r\n");
    private static final byte[] CONTENT_LENGTH = ascii("Content-Length: ");
    private static final byte[] HOST_LOCALHOST = ascii("Host: localhost\r\n");
    private static final byte[] XFF = ascii("X-Forwarded-For: ");
    private static final byte[] XFP_HTTP = ascii("X-Forwarded-Proto: http\r\n");
    private static final byte[] XFH = ascii("X-Forwarded-Host: ");
    private static final byte[] REQUEST_ID = ascii("X-Request-Id: ");
    private static final byte[] RELEASE = ascii("X-Canary-Release: ");
    private static final byte[] UPGRADE = ascii("Upgrade: ");
    private static final byte[] CONNECTION_UPGRADE = ascii("Connection: upgrade\r\n");
    private static final byte[] COMMA_SPACE = ascii(", ");
    private static final byte[] HEX = ascii("0123456789abcdef");
    private static final String LOCALHOST = "localhost";
    private static final short CRLF = '\r' << 8 | '\n';

    private HeaderRewriter() {
    }

    /**
     * Writes the request line and headers for the upstream, ending with the empty line.
     *
     * @param clientIp  the client's address, already formatted
     * @param trusted   whether the client is a trusted proxy whose forwarding headers are kept
     * @param upgrade   whether the request asks for a protocol upgrade the proxy will tunnel
     * @param idHigh    with {@code idLow}: the request id to add when the request has none; the same on every attempt
     * @param bodyLength the length of a chunked body the proxy collected, sent as Content-Length in place of the
     *                   client's Transfer-Encoding (and Trailer); -1 to keep the client's framing
     */
    static void writeRequestHead(ByteBuf out, HttpRequest request, String clientIp, boolean trusted, boolean upgrade,
                                 String release, long idHigh, long idLow, long bodyLength) {
        RequestHeaders h = RequestHeaders.of(request.headers());
        ByteBufUtil.writeAscii(out, request.method().asciiName());
        out.writeByte(' ');
        out.writeCharSequence(request.uri(), CharsetUtil.ISO_8859_1);
        out.writeBytes(HTTP_11);

        List<String> namedInConnection = namedHeaders(h);
        CharSequence host = null;
        String priorForwardedFor = null;
        boolean hasProto = false;
        boolean hasForwardedHost = false;
        boolean hasRequestId = false;
        CharSequence upgradeTo = null;

        for (int i = 0, n = h.size(); i < n; i++) {
            CharSequence name = h.name(i);
            if (bodyLength >= 0
                    && (is(name, HttpHeaderNames.TRANSFER_ENCODING) || is(name, HttpHeaderNames.TRAILER))) {
                // The trailer fields a Trailer header announces are dropped with the chunked framing.
                continue;
            }
            switch (classify(name)) {
                case HOP_BY_HOP:
                    continue;
                case UPGRADE_HEADER:
                    if (upgrade && upgradeTo == null) {
                        upgradeTo = h.value(i);
                    }
                    continue;
                case HOST:
                    if (host == null) {
                        host = h.value(i);
                    }
                    break;
                case FORWARDED_FOR:
                    if (trusted) {
                        // RFC 9110 5.3: repeated lines are one list; a balancer may have added a line of its own.
                        CharSequence value = h.value(i);
                        priorForwardedFor = priorForwardedFor == null ? value.toString()
                                : priorForwardedFor + ", " + value;
                    }
                    continue;
                case FORWARDED_PROTO:
                    if (!trusted) {
                        continue;
                    }
                    hasProto = true;
                    break;
                case FORWARDED_HOST:
                    if (!trusted) {
                        continue;
                    }
                    hasForwardedHost = true;
                    break;
                case FORWARDED_OTHER:
                    if (!trusted) {
                        continue;
                    }
                    break;
                case REQUEST_ID_HEADER:
                    if (namedInConnection != null && isNamedIn(namedInConnection, name)) {
                        continue; // meant for this hop only (RFC 9110 7.6.1): the upstream gets an id of the proxy's
                    }
                    hasRequestId = true;
                    break;
                default:
                    if (namedInConnection != null && isNamedIn(namedInConnection, name)) {
                        continue;
                    }
            }
            writeName(out, name);
            h.writeValue(i, out);
            out.writeShort(CRLF);
        }

        if (host == null) {
            // Only an HTTP/1.0 request may come without Host; it is forwarded as HTTP/1.1, which needs one.
            out.writeBytes(HOST_LOCALHOST);
            host = LOCALHOST;
        }
        out.writeBytes(XFF);
        if (priorForwardedFor != null && !priorForwardedFor.isEmpty()) {
            out.writeCharSequence(priorForwardedFor, CharsetUtil.ISO_8859_1);
            out.writeBytes(COMMA_SPACE);
        }
        ByteBufUtil.writeAscii(out, clientIp);
        out.writeShort(CRLF);
        if (!hasProto) {
            out.writeBytes(XFP_HTTP);
        }
        if (!hasForwardedHost) {
            out.writeBytes(XFH);
            writeText(out, host);
            out.writeShort(CRLF);
        }
        if (!hasRequestId) {
            out.writeBytes(REQUEST_ID);
            writeHex(out, idHigh);
            writeHex(out, idLow);
            out.writeShort(CRLF);
        }
        out.writeBytes(RELEASE);
        ByteBufUtil.writeAscii(out, release);
        out.writeShort(CRLF);
        if (bodyLength >= 0) {
            out.writeBytes(CONTENT_LENGTH);
            ByteBufUtil.writeAscii(out, Long.toString(bodyLength));
            out.writeShort(CRLF);
        }
        if (upgradeTo != null) {
            out.writeBytes(UPGRADE);
            writeText(out, upgradeTo);
            out.writeShort(CRLF);
            out.writeBytes(CONNECTION_UPGRADE);
        }
        out.writeShort(CRLF);
    }

    /** A size to allocate for the head, so that writing it rarely has to grow the buffer. */
    static int estimateSize(HttpRequest request) {
        return request.uri().length() + 32 * request.headers().size() + 256;
    }

    private static final int OTHER = 0;
    private static final int HOP_BY_HOP = 1;
    private static final int UPGRADE_HEADER = 2;
    private static final int HOST = 3;
    private static final int FORWARDED_FOR = 4;
    private static final int FORWARDED_PROTO = 5;
    private static final int FORWARDED_HOST = 6;
    private static final int FORWARDED_OTHER = 7;
    private static final int REQUEST_ID_HEADER = 8;

    /** What a client header is to the rewrite; names are compared by length first, so most cost one switch. */
    private static int classify(CharSequence name) {
        switch (name.length()) {
            case 2:
                return is(name, HttpHeaderNames.TE) ? HOP_BY_HOP : other(name);
            case 4:
                return is(name, HttpHeaderNames.HOST) ? HOST : other(name);
            case 6:
                // Expect is answered by the proxy itself.
                return is(name, HttpHeaderNames.EXPECT) ? HOP_BY_HOP : other(name);
            case 7:
                return is(name, HttpHeaderNames.UPGRADE) ? UPGRADE_HEADER : other(name);
            case 9:
                return is(name, FORWARDED) || is(name, X_REAL_IP) ? FORWARDED_OTHER : other(name);
            case 10:
                return is(name, HttpHeaderNames.CONNECTION) || is(name, HttpHeaderNames.KEEP_ALIVE)
                        ? HOP_BY_HOP : other(name);
            case 12:
                return is(name, X_REQUEST_ID) ? REQUEST_ID_HEADER : other(name);
            case 15:
                return is(name, X_FORWARDED_FOR) ? FORWARDED_FOR : other(name);
            case 16:
                if (is(name, X_FORWARDED_HOST)) {
                    return FORWARDED_HOST;
                }
                return is(name, PROXY_CONNECTION) || is(name, X_CANARY_RELEASE) ? HOP_BY_HOP : other(name);
            case 17:
                return is(name, X_FORWARDED_PROTO) ? FORWARDED_PROTO : other(name);
            case 19:
                return is(name, HttpHeaderNames.PROXY_AUTHORIZATION) ? HOP_BY_HOP : other(name);
            default:
                return other(name);
        }
    }

    /**
     * Underscore names are dropped: gunicorn would read them as their dashed twins. The forwarding headers the
     * proxy does not set itself ({@code X-Forwarded-Port}, {@code -Prefix}, ...) are kept only from a trusted
     * proxy, like the ones it sets: Django reads {@code X-Forwarded-Port} when told to.
     */
    private static int other(CharSequence name) {
        int n = name.length();
        for (int i = 0; i < n; i++) {
            if (name.charAt(i) == '_') {
                return HOP_BY_HOP;
            }
        }
        return n > X_FORWARDED_PREFIX.length() && AsciiString.regionMatches(name, true, 0, X_FORWARDED_PREFIX, 0,
                X_FORWARDED_PREFIX.length()) ? FORWARDED_OTHER : OTHER;
    }

    private static boolean is(CharSequence name, AsciiString known) {
        return known.contentEqualsIgnoreCase(name);
    }

    /** A header's name and the {@code ": "} before its value. */
    private static void writeName(ByteBuf out, CharSequence name) {
        writeText(out, name);
        out.writeByte(':');
        out.writeByte(' ');
    }

    /** A name or value as its bytes: an AsciiString's copied as they are, a String's one byte per char. */
    static void writeText(ByteBuf out, CharSequence text) {
        if (text instanceof AsciiString ascii) {
            ByteBufUtil.copy(ascii, out);
        } else {
            out.writeCharSequence(text, CharsetUtil.ISO_8859_1);
        }
    }

    /**
     * RFC 9110 7.6.1: the headers a Connection header names, besides its plain options (keep-alive, close,
     * upgrade), are hop-by-hop too; null when it names none, as it nearly always does. The framing headers are
     * not removed this way: the decoder has already checked them.
     */
    private static List<String> namedHeaders(RequestHeaders h) {
        List<String> named = null;
        for (int i = 0, n = h.size(); i < n; i++) {
            if (h.name(i).length() == 10 && is(h.name(i), HttpHeaderNames.CONNECTION)) {
                named = namedHeaders(h.value(i), named);
            }
        }
        return named;
    }

    /**
     * Adds to {@code named} (created when needed) the headers one Connection line names. The line is read as it is
     * kept: a String is made only of a header it names.
     */
    private static List<String> namedHeaders(CharSequence connection, List<String> named) {
        int n = connection.length();
        int start = 0;
        while (start < n) {
            int comma = AsciiString.indexOf(connection, ',', start);
            int end = comma < 0 ? n : comma;
            int a = start;
            int b = end;
            // RFC 9110 5.6.1: optional whitespace around list elements is spaces or tabs.
            while (a < b && isOws(connection.charAt(a))) {
                a++;
            }
            while (b > a && isOws(connection.charAt(b - 1))) {
                b--;
            }
            if (b > a && !isPlainConnectionOption(connection, a, b)) {
                String name = connection.subSequence(a, b).toString();
                if (!HttpHeaderNames.TRANSFER_ENCODING.contentEqualsIgnoreCase(name)
                        && !HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(name)) {
                    if (named == null) {
                        named = new ArrayList<>(2);
                    }
                    named.add(name);
                }
            }
            start = end + 1;
        }
        return named;
    }

    private static boolean isOws(char c) {
        return c == ' ' || c == '\t';
    }

    private static boolean isNamedIn(List<String> named, CharSequence name) {
        for (String n : named) {
            if (AsciiString.contentEqualsIgnoreCase(n, name)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isPlainConnectionOption(CharSequence s, int from, int to) {
        int len = to - from;
        return len == 10 && AsciiString.regionMatches(s, true, from, HttpHeaderValues.KEEP_ALIVE, 0, 10)
                || len == 5 && AsciiString.regionMatches(s, true, from, HttpHeaderValues.CLOSE, 0, 5)
                || len == 7 && AsciiString.regionMatches(s, true, from, HttpHeaderValues.UPGRADE, 0, 7);
    }

    /** 64 random bits as 16 hex digits, written in place: half of a 128-bit request id. */
    private static void writeHex(ByteBuf out, long bits) {
        for (int i = 0; i < 16; i++) {
            out.writeByte(HEX[(int) (bits >>> (60 - 4 * i)) & 0xf]);
        }
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
