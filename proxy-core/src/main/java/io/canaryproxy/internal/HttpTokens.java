package io.canaryproxy.internal;

/**
 * The bytes an HTTP token may hold (RFC 9110 5.6.2 {@code tchar}): header names, methods, connection options. One
 * table for the request and the response decoders, which check every name byte by byte.
 */
public final class HttpTokens {

    private static final boolean[] TCHAR = new boolean[256];

    static {
        for (int c = '0'; c <= '9'; c++) {
            TCHAR[c] = true;
        }
        for (int c = 'a'; c <= 'z'; c++) {
            TCHAR[c] = true;
            TCHAR[c - 32] = true;
        }
        for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
            TCHAR[c] = true;
        }
    }

    private HttpTokens() {
    }

    /** Whether {@code b} may appear in a token. */
    public static boolean isTchar(byte b) {
        return TCHAR[b & 0xff];
    }
}
