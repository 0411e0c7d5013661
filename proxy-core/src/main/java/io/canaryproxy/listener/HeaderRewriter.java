package io.canaryproxy.listener;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Rewrites headers in place as they cross the proxy. Request: hop-by-hop headers go (RFC 9110 7.6.1), underscore
 * names go (gunicorn maps {@code X_Forwarded_For} and {@code X-Forwarded-For} to the same WSGI key), the
 * {@code X-Forwarded-*} set is the proxy's own unless the client is a trusted proxy, a request id is added when
 * absent, and the upstream learns which release it runs as. (Responses: see {@link ResponseHeadWriter}.)
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
    private static final AsciiString HTTP = AsciiString.cached("http");
    private static final AsciiString LOCALHOST = AsciiString.cached("localhost");

    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private HeaderRewriter() {
    }

    /**
     * @param clientIp the client's address, already formatted
     * @param trusted  whether the client is a trusted proxy whose forwarding headers are kept
     * @param upgrade  whether the request asks for a protocol upgrade the proxy will tunnel
     */
    static void rewriteRequest(HttpRequest request, String clientIp, boolean trusted, boolean upgrade,
                               String release) {
        HttpHeaders h = request.headers();
        if (!h.contains(HttpHeaderNames.HOST)) {
            // Only an HTTP/1.0 request may come without Host; it is forwarded as HTTP/1.1, which needs one.
            h.set(HttpHeaderNames.HOST, LOCALHOST);
        }
        CharSequence upgradeTo = upgrade ? h.get(HttpHeaderNames.UPGRADE) : null;
        removeHopByHop(h);
        removeUnderscoreNames(h);
        h.remove(HttpHeaderNames.EXPECT); // answered by the proxy itself

        if (trusted) {
            String prior = h.get(X_FORWARDED_FOR);
            h.set(X_FORWARDED_FOR, prior == null || prior.isEmpty() ? clientIp : prior + ", " + clientIp);
            if (!h.contains(X_FORWARDED_PROTO)) {
                h.set(X_FORWARDED_PROTO, HTTP);
            }
            if (!h.contains(X_FORWARDED_HOST)) {
                setForwardedHost(h);
            }
        } else {
            h.set(X_FORWARDED_FOR, clientIp);
            h.set(X_FORWARDED_PROTO, HTTP);
            setForwardedHost(h);
            h.remove(FORWARDED);
        }
        if (!h.contains(X_REQUEST_ID)) {
            h.set(X_REQUEST_ID, newRequestId());
        }
        h.set(X_CANARY_RELEASE, release);
        if (upgradeTo != null) {
            h.set(HttpHeaderNames.UPGRADE, upgradeTo);
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        }
    }

    private static void setForwardedHost(HttpHeaders h) {
        String host = h.get(HttpHeaderNames.HOST);
        if (host != null) {
            h.set(X_FORWARDED_HOST, host);
        } else {
            h.remove(X_FORWARDED_HOST);
        }
    }

    private static void removeHopByHop(HttpHeaders h) {
        String connection = h.get(HttpHeaderNames.CONNECTION);
        if (connection != null) {
            // RFC 9110 7.6.1: every header named in Connection is hop-by-hop too. Scanned in place: the usual
            // values (keep-alive, close, upgrade) name no header left to remove, and cost no allocation.
            int n = connection.length();
            int start = 0;
            while (start < n) {
                int comma = connection.indexOf(',', start);
                int end = comma < 0 ? n : comma;
                int a = start;
                int b = end;
                while (a < b && connection.charAt(a) == ' ') {
                    a++;
                }
                while (b > a && connection.charAt(b - 1) == ' ') {
                    b--;
                }
                if (b > a && !isPlainConnectionOption(connection, a, b)) {
                    String name = connection.substring(a, b);
                    if (!HttpHeaderNames.TRANSFER_ENCODING.contentEqualsIgnoreCase(name)
                            && !HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(name)) {
                        h.remove(name);
                    }
                }
                start = end + 1;
            }
            h.remove(HttpHeaderNames.CONNECTION);
        }
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(PROXY_CONNECTION);
        h.remove(HttpHeaderNames.TE);
        h.remove(HttpHeaderNames.UPGRADE);
        h.remove(HttpHeaderNames.PROXY_AUTHORIZATION);
    }

    private static boolean isPlainConnectionOption(String s, int from, int to) {
        int len = to - from;
        return len == 10 && s.regionMatches(true, from, "keep-alive", 0, 10)
                || len == 5 && s.regionMatches(true, from, "close", 0, 5)
                || len == 7 && s.regionMatches(true, from, "upgrade", 0, 7);
    }

    private static void removeUnderscoreNames(HttpHeaders h) {
        Iterator<Map.Entry<CharSequence, CharSequence>> it = h.iteratorCharSequence();
        while (it.hasNext()) {
            if (indexOf(it.next().getKey(), '_') >= 0) {
                removeUnderscoreNamesSlow(h);
                return;
            }
        }
    }

    private static void removeUnderscoreNamesSlow(HttpHeaders h) {
        for (String name : h.names()) {
            if (name.indexOf('_') >= 0) {
                h.remove(name);
            }
        }
    }

    private static int indexOf(CharSequence s, char c) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == c) {
                return i;
            }
        }
        return -1;
    }

    /** 128 random bits as 32 hex digits; an AsciiString over its own bytes, so no char[] or String copy. */
    static AsciiString newRequestId() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        byte[] out = new byte[32];
        long hi = random.nextLong();
        long lo = random.nextLong();
        for (int i = 0; i < 16; i++) {
            out[i] = HEX[(int) (hi >>> (60 - 4 * i)) & 0xf];
            out[16 + i] = HEX[(int) (lo >>> (60 - 4 * i)) & 0xf];
        }
        return new AsciiString(out, false);
    }
}
