package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Makes the request a whole head stands for when it came in one read, as nearly all do, with less work than Netty's
 * decoder: its bytes are copied once, every header name is a common one shared or a view of that copy, and a value
 * is its place in the copy until it is read, where the decoder copies each line and makes a String of every value.
 * The request is the one the decoder would have made of the same bytes (same request line, same headers in the same
 * order, no body), but for its decoder result: a plain success, without the line and header sizes Netty's carries.
 *
 * <p>Only the plain shape is taken: {@code METHOD SP target SP HTTP/1.x}, a method the proxy knows, no leading empty
 * line, within the size limits, and no header that frames a body ({@code Content-Length}, {@code Transfer-Encoding},
 * or the two keys of a pre-RFC 6455 WebSocket handshake, whose eight-byte body Netty reads). Anything else is left to
 * Netty's decoder, which then answers as it always has. The bytes have passed {@link StrictRequestDecoder}'s scan:
 * every line ends in CRLF, holds no control byte, and every header line has a colon after a non-empty token.
 */
final class RequestHeadParser {

    /** Header names as most clients spell them, shared rather than made a view of each head; found by length. */
    private static final AsciiString[][] COMMON_NAMES = byLength(
        AsciiString.cached("Host"), AsciiString.cached("User-Agent"), AsciiString.cached("Accept"),
        AsciiString.cached("Accept-Encoding"), AsciiString.cached("Accept-Language"),
        AsciiString.cached("Connection"), AsciiString.cached("Cookie"), AsciiString.cached("Referer"),
        AsciiString.cached("Cache-Control"), AsciiString.cached("Origin"), AsciiString.cached("Upgrade"),
        AsciiString.cached("If-None-Match"), AsciiString.cached("If-Modified-Since"),
        AsciiString.cached("Upgrade-Insecure-Requests"), AsciiString.cached("Sec-Fetch-Site"),
        AsciiString.cached("Sec-Fetch-Mode"), AsciiString.cached("Sec-Fetch-Dest"),
        AsciiString.cached("Sec-Fetch-User"), AsciiString.cached("X-Requested-With"),
        AsciiString.cached("host"), AsciiString.cached("user-agent"), AsciiString.cached("accept"),
        AsciiString.cached("accept-encoding"), AsciiString.cached("accept-language"), AsciiString.cached("cookie"));

    private static final HttpMethod[] METHODS = {
        HttpMethod.GET, HttpMethod.POST, HttpMethod.HEAD, HttpMethod.PUT, HttpMethod.DELETE, HttpMethod.PATCH,
        HttpMethod.OPTIONS,
    };

    private static final AsciiString HTTP_1_ = AsciiString.cached("HTTP/1.");
    private static final byte[] CONTENT_LENGTH = lower("content-length");
    private static final byte[] TRANSFER_ENCODING = lower("transfer-encoding");
    private static final byte[] SEC_WEBSOCKET_KEY = lower("sec-websocket-key");

    private RequestHeadParser() {
    }

    /**
     * The request for the head in {@code length} bytes of {@code in} from {@code from}, the final empty line
     * included; {@code null} when the head is to be left to Netty's decoder. Reads nothing from {@code in}.
     *
     * @param maxInitialLine the longest request line, CRLF not counted, as Netty's decoder counts it
     * @param maxHeaderSize  the most bytes of header lines in all, CRLFs not counted, as Netty's decoder counts them
     */
    static HttpRequest parse(ByteBuf in, int from, int length, int maxInitialLine, int maxHeaderSize) {
        // Each header line counts at least two bytes ("a:") toward the limit and adds a CRLF that does not count: a
        // head longer than this is over a limit, and is refused by Netty's decoder without being copied here first.
        if (length > maxInitialLine + 2L * maxHeaderSize + 4) {
            return null;
        }
        byte[] head = new byte[length];
        in.getBytes(from, head, 0, length);

        int lineEnd = indexOfCr(head, 0);
        if (lineEnd > maxInitialLine) {
            return null;
        }
        int space = indexOf(head, (byte) ' ', 0, lineEnd);
        HttpMethod method = space < 0 ? null : method(head, space);
        // The line ends in " HTTP/1.0" or " HTTP/1.1", after a target that is not empty.
        int versionStart = lineEnd - 8;
        if (method == null || versionStart - 1 <= space + 1 || head[versionStart - 1] != ' ') {
            return null;
        }
        HttpVersion version = version(head, versionStart);
        int targetStart = space + 1;
        int targetEnd = versionStart - 1;
        if (version == null || indexOf(head, (byte) ' ', targetStart, targetEnd) >= 0) {
            return null;
        }

        int headersStart = lineEnd + 2;
        int headers = countHeaders(head, headersStart, maxHeaderSize);
        if (headers < 0) {
            return null;
        }
        RequestHeaders h = new RequestHeaders();
        h.reserve(headers);
        for (int start = headersStart, end = indexOfCr(head, start); end > start; start = end + 2,
                end = indexOfCr(head, start)) {
            int colon = indexOf(head, (byte) ':', start, end);
            // RFC 9112 5: optional whitespace around the value is not part of it.
            int valueStart = colon + 1;
            while (valueStart < end && isOws(head[valueStart])) {
                valueStart++;
            }
            int valueEnd = end;
            while (valueEnd > valueStart && isOws(head[valueEnd - 1])) {
                valueEnd--;
            }
            h.addFromHead(name(head, start, colon), head, valueStart, valueEnd - valueStart);
        }
        String uri = new String(head, targetStart, targetEnd - targetStart, StandardCharsets.ISO_8859_1);
        try {
            return new DefaultHttpRequest(version, method, uri, h);
        } catch (IllegalArgumentException e) {
            // A target Netty's request refuses: its decoder answers for it, as for any other.
            return null;
        }
    }

    /**
     * The number of header lines from {@code start} to the empty line, or -1 when one of them frames a body or they
     * are longer in all than {@code maxHeaderSize}.
     */
    private static int countHeaders(byte[] head, int start, int maxHeaderSize) {
        int count = 0;
        int size = 0;
        for (int end = indexOfCr(head, start); end > start; start = end + 2, end = indexOfCr(head, start)) {
            size += end - start;
            int nameLength = indexOf(head, (byte) ':', start, end) - start;
            if (size > maxHeaderSize
                    || nameLength == CONTENT_LENGTH.length && equalsLower(head, start, CONTENT_LENGTH)
                    || nameLength == TRANSFER_ENCODING.length && equalsLower(head, start, TRANSFER_ENCODING)
                    || nameLength == SEC_WEBSOCKET_KEY.length + 1 && equalsLower(head, start, SEC_WEBSOCKET_KEY)) {
                return -1;
            }
            count++;
        }
        return count;
    }

    private static AsciiString name(byte[] head, int start, int end) {
        int length = end - start;
        if (length < COMMON_NAMES.length) {
            for (AsciiString known : COMMON_NAMES[length]) {
                if (equals(head, start, known)) {
                    return known;
                }
            }
        }
        return new AsciiString(head, start, length, false);
    }

    private static HttpMethod method(byte[] head, int length) {
        for (HttpMethod m : METHODS) {
            if (m.asciiName().length() == length && equals(head, 0, m.asciiName())) {
                return m;
            }
        }
        return null;
    }

    private static HttpVersion version(byte[] head, int start) {
        if (!equals(head, start, HTTP_1_)) {
            return null;
        }
        byte minor = head[start + HTTP_1_.length()];
        return minor == '1' ? HttpVersion.HTTP_1_1 : minor == '0' ? HttpVersion.HTTP_1_0 : null;
    }

    private static boolean equals(byte[] head, int start, AsciiString s) {
        int offset = s.arrayOffset();
        return Arrays.equals(head, start, start + s.length(), s.array(), offset, offset + s.length());
    }

    private static boolean equalsLower(byte[] head, int start, byte[] lower) {
        for (int i = 0; i < lower.length; i++) {
            if ((head[start + i] | 0x20) != lower[i]) {
                return false;
            }
        }
        return true;
    }

    private static int indexOfCr(byte[] head, int from) {
        return indexOf(head, (byte) '\r', from, head.length);
    }

    private static int indexOf(byte[] head, byte b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (head[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static boolean isOws(byte b) {
        return b == ' ' || b == '\t';
    }

    private static AsciiString[][] byLength(AsciiString... names) {
        int longest = 0;
        for (AsciiString name : names) {
            longest = Math.max(longest, name.length());
        }
        AsciiString[][] byLength = new AsciiString[longest + 1][0];
        for (AsciiString name : names) {
            AsciiString[] same = Arrays.copyOf(byLength[name.length()], byLength[name.length()].length + 1);
            same[same.length - 1] = name;
            byLength[name.length()] = same;
        }
        return byLength;
    }

    private static byte[] lower(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
