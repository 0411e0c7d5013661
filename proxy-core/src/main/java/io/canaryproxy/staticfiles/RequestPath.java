package io.canaryproxy.staticfiles;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns the part of a request URI below a static prefix into a relative file path, or refuses it.
 *
 * <p>Refusing is the safe default: anything that could name a file outside the root, or the same file under a
 * second name, is refused rather than normalised, and the caller answers 404 for it. The path is percent-decoded
 * exactly once, so {@code %252e%252e} stays the harmless name {@code %2e%2e}.
 */
final class RequestPath {

    private RequestPath() {
    }

    /**
     * The decoded path below {@code prefix}, such as {@code css/app.css}, or {@code null} when the request must be
     * answered 404: an invalid or forbidden escape ({@code %2F}, {@code %5C}, {@code %00}), bytes (escaped or
     * raw) that are not UTF-8, a backslash or control character, or an empty, {@code .} or {@code ..} segment (which also refuses
     * {@code //etc/passwd}, a path that {@link java.nio.file.Path#resolve} would take as absolute).
     *
     * @param uri    the request target in origin form; it must start with {@code prefix}
     * @param prefix a prefix that starts and ends with {@code /}
     */
    static String relative(String uri, String prefix) {
        int end = uri.length();
        for (int i = prefix.length(); i < uri.length(); i++) {
            char c = uri.charAt(i);
            if (c == '?' || c == '#') {
                end = i;
                break;
            }
        }
        String decoded = percentDecode(uri, prefix.length(), end);
        if (decoded == null || decoded.isEmpty()) {
            return null;
        }
        int segmentStart = 0;
        for (int i = 0; i <= decoded.length(); i++) {
            char c = i < decoded.length() ? decoded.charAt(i) : '/';
            if (c == '/') {
                if (isEmptyOrDots(decoded, segmentStart, i)) {
                    return null;
                }
                segmentStart = i + 1;
            } else if (c == '\\' || c < ' ' || c == 0x7f) {
                return null;
            }
        }
        return decoded;
    }

    /** Whether {@code path[start, end)} is "", "." or "..". */
    private static boolean isEmptyOrDots(String path, int start, int end) {
        for (int i = start; i < end; i++) {
            if (path.charAt(i) != '.') {
                return false;
            }
        }
        return end - start <= 2;
    }

    /** {@code uri[start, end)} percent-decoded as UTF-8, or {@code null} when it is malformed or forbidden. */
    private static String percentDecode(String uri, int start, int end) {
        byte[] bytes = new byte[end - start];
        int n = 0;
        for (int i = start; i < end; i++) {
            char c = uri.charAt(i);
            if (c == '%') {
                int high = i + 2 < end ? hex(uri.charAt(i + 1)) : -1;
                int low = high >= 0 ? hex(uri.charAt(i + 2)) : -1;
                if (low < 0) {
                    return null;
                }
                int b = high << 4 | low;
                // An escaped separator or NUL is never part of a real file name; it is only ever an attack.
                if (b == '/' || b == '\\' || b == 0) {
                    return null;
                }
                bytes[n++] = (byte) b;
                i += 2;
            } else if (c > ' ' && c < 0x7f || c >= 0x80 && c <= 0xff) {
                // A byte from 0x80 came raw (the decoder reads the target byte by byte): it counts as if escaped,
                // as nginx takes it, so /static/café.css names the same file either way.
                bytes[n++] = (byte) c;
            } else {
                // Raw spaces and controls are not allowed in a request target (RFC 3986).
                return null;
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, 0, n))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** The value of an ASCII hex digit, or -1 ({@link Character#digit} would also take other scripts' digits). */
    private static int hex(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }
}
