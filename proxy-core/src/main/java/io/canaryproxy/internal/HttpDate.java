package io.canaryproxy.internal;

import io.netty.handler.codec.DateFormatter;
import java.nio.charset.StandardCharsets;
import java.util.Date;

/**
 * The current time as an HTTP {@code Date} header line, formatted once a second: RFC 9110 6.6.1 asks a server
 * with a clock to date what it answers, and a proxy to date what it forwards undated, and formatting a date per
 * response would cost more than the rest of writing its head.
 */
public final class HttpDate {

    /** One second's line; replaced whole, so that a reader on another event loop sees one consistent pair. */
    private record Line(long second, byte[] bytes, String value) {
    }

    private static volatile Line current = format(System.currentTimeMillis() / 1000);

    private HttpDate() {
    }

    /** {@code Date: Tue, 01 Dec 2026 07:30:00 GMT\r\n}; do not modify. */
    public static byte[] headerLine() {
        return now().bytes;
    }

    /** {@code Tue, 01 Dec 2026 07:30:00 GMT}. */
    public static String value() {
        return now().value;
    }

    private static Line now() {
        long second = System.currentTimeMillis() / 1000;
        Line line = current;
        if (line.second != second) {
            line = format(second);
            current = line;
        }
        return line;
    }

    private static Line format(long second) {
        String value = DateFormatter.format(new Date(second * 1000));
        return new Line(second, ("Date: " + value + "\r\n").getBytes(StandardCharsets.US_ASCII), value);
    }
}
