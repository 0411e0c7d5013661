package io.canaryproxy.staticfiles;

import java.util.Locale;

/**
 * One range of bytes, {@code first} to {@code last} inclusive, from a {@code Range} request header (RFC 9110 14).
 *
 * <p>Only a single range is honoured. Several ranges would need a {@code multipart/byteranges} body, which
 * browsers never ask static files for; RFC 9110 lets a server ignore Range and send the whole file instead.
 */
record ByteRange(long first, long last) {

    /** A Range that no byte of the file satisfies: answered 416 with {@code Content-Range: bytes *}{@code /size}. */
    static final ByteRange UNSATISFIABLE = new ByteRange(-1, -1);

    private static final String BYTES = "bytes=";
    private static final long NONE = -1;
    private static final long MALFORMED = -2;

    long length() {
        return last - first + 1;
    }

    /**
     * The range {@code header} asks of a file of {@code size} bytes: {@code bytes=a-b} (clipped to the file),
     * {@code bytes=a-} or {@code bytes=-n} (the last n bytes); {@link #UNSATISFIABLE} when it starts at or past
     * the end of the file or asks for the last 0 bytes; {@code null} when the whole file is to be sent instead:
     * another unit, several ranges, or a malformed header (RFC 9110 14.2: a server may ignore it).
     */
    static ByteRange parse(String header, long size) {
        if (header.length() < BYTES.length()
                || !header.substring(0, BYTES.length()).toLowerCase(Locale.ROOT).equals(BYTES)) {
            return null;
        }
        String spec = header.substring(BYTES.length()).trim();
        int dash = spec.indexOf('-');
        if (dash < 0 || spec.indexOf(',') >= 0) {
            return null;
        }
        long from = number(spec.substring(0, dash).trim());
        long to = number(spec.substring(dash + 1).trim());
        if (from == NONE) {
            if (to == NONE || to == MALFORMED) {
                return null;
            }
            if (to == 0 || size == 0) {
                return UNSATISFIABLE;
            }
            return new ByteRange(Math.max(0, size - to), size - 1);
        }
        if (from == MALFORMED || to == MALFORMED || (to != NONE && to < from)) {
            return null;
        }
        if (from >= size) {
            return UNSATISFIABLE;
        }
        return new ByteRange(from, to == NONE ? size - 1 : Math.min(to, size - 1));
    }

    /** Digits only; {@link #NONE} for "", {@link #MALFORMED} for anything else; huge values saturate. */
    private static long number(String text) {
        if (text.isEmpty()) {
            return NONE;
        }
        long value = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return MALFORMED;
            }
            // Past any file size: 99999999999999999999- is merely unsatisfiable, not an overflow.
            value = value > (Long.MAX_VALUE - 9) / 10 ? Long.MAX_VALUE : value * 10 + (c - '0');
        }
        return value;
    }
}
