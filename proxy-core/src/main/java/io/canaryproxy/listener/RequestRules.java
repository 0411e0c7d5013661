package io.canaryproxy.listener;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;

/** Checks on a decoded request head that the decoder itself does not make. */
final class RequestRules {

    private RequestRules() {
    }

    /**
     * Whether the request asks to switch protocols (a WebSocket handshake, say): an {@code Upgrade} header and a
     * {@code Connection} that names it. RFC 9110 7.8: the {@code Upgrade} of an HTTP/1.0 request is ignored, since it
     * may have come through an intermediary that did not know to drop it.
     */
    static boolean asksUpgrade(HttpRequest request) {
        HttpHeaders h = request.headers();
        return request.protocolVersion().minorVersion() >= 1 && h.contains(HttpHeaderNames.UPGRADE)
                && h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true);
    }

    /** The status to refuse the request with, or {@code null} when it may be forwarded. */
    static HttpResponseStatus check(HttpRequest request) {
        HttpVersion version = request.protocolVersion();
        // RFC 9110 2.5: a higher minor version of 1.x is handled as 1.1, the highest this proxy speaks.
        if (version.majorVersion() != 1) {
            return HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED;
        }
        HttpMethod method = request.method();
        if (hasLowerCase(method)) {
            // RFC 9110 9.1: methods are case-sensitive, but gunicorn upper-cases them, so "get" would run a GET
            // view and "trace" would pass the check below as something else; nginx refuses them as well.
            return HttpResponseStatus.BAD_REQUEST;
        }
        if (method == HttpMethod.CONNECT || method == HttpMethod.TRACE) {
            // RFC 9110 15.6.2: methods the proxy serves for no target (a 405 would need an Allow header listing
            // the target's methods, which only the app knows). CONNECT asks for a tunnel this proxy does not open;
            // TRACE would echo the request back, the client's cookies and the forwarding headers the proxy adds
            // included, which is why nginx refuses it too.
            return HttpResponseStatus.NOT_IMPLEMENTED;
        }
        HttpHeaders h = request.headers();
        // RFC 9112 3.2: a 1.1 request without Host gets a 400 (one with more than one is refused by the decoder).
        CharSequence host = RequestHeaders.of(h).first(HttpHeaderNames.HOST);
        if (version.minorVersion() >= 1 && host == null) {
            return HttpResponseStatus.BAD_REQUEST;
        }
        // RFC 9112 3.2: an invalid Host value gets a 400 too; the upstream and X-Forwarded-Host would trust it. With
        // an absolute target, Host is ignored (RFC 9112 3.2.2): the target's replaces it below.
        String uri = request.uri();
        boolean absoluteForm = !uri.isEmpty() && uri.charAt(0) != '/' && !"*".equals(uri);
        if (host != null && !absoluteForm && !isValidHost(host)) {
            return HttpResponseStatus.BAD_REQUEST;
        }
        if (h.contains(HttpHeaderNames.TRANSFER_ENCODING)) {
            List<String> te = h.getAll(HttpHeaderNames.TRANSFER_ENCODING);
            if (te.size() > 1 || !HttpHeaderValues.CHUNKED.contentEqualsIgnoreCase(te.get(0).trim())) {
                // The decoder accepts any coding list ending in chunked; upstreams only understand plain chunked.
                return HttpResponseStatus.BAD_REQUEST;
            }
        }
        if (uri.isEmpty()) {
            return HttpResponseStatus.BAD_REQUEST;
        }
        if (uri.charAt(0) != '/') {
            if ("*".equals(uri) && method == HttpMethod.OPTIONS) {
                return null;
            }
            return toOriginForm(request) ? null : HttpResponseStatus.BAD_REQUEST;
        }
        return null;
    }

    /** RFC 9112 3.2.2: a server must accept the absolute form; the upstream gets the origin form and its Host. */
    private static boolean toOriginForm(HttpRequest request) {
        try {
            URI uri = new URI(request.uri());
            String scheme = uri.getScheme();
            if (uri.getRawAuthority() == null
                    || !("http".equalsIgnoreCase(scheme) || "https".equalsIgnoreCase(scheme))) {
                return false;
            }
            String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
            request.setUri(uri.getRawQuery() == null ? path : path + "?" + uri.getRawQuery());
            // RFC 9112 3.2.2: Host becomes the target's host and port. RFC 9110 4.2.4: user information in the
            // target is an error; it mostly serves to disguise the host (http://bank.example@evil.example/).
            String hostAndPort = uri.getRawAuthority();
            if (hostAndPort.indexOf('@') >= 0 || !isValidHost(hostAndPort)) {
                return false;
            }
            request.headers().set(HttpHeaderNames.HOST, hostAndPort);
            return true;
        } catch (URISyntaxException e) {
            return false;
        }
    }

    /**
     * RFC 9110 7.2 with RFC 3986 3.2.2: {@code uri-host [":" port]}, the host an IP literal in brackets or a
     * reg-name (unreserved, percent-encoded and sub-delims characters). RFC 9110 4.2.1: the host of an {@code http}
     * URI is never empty, and Django would refuse such a request with an error for the app's log.
     */
    static boolean isValidHost(CharSequence value) {
        int n = value.length();
        int i = 0;
        if (n > 0 && value.charAt(0) == '[') {
            int close = AsciiString.indexOf(value, ']', 0);
            if (close < 2) {
                return false;
            }
            for (i = 1; i < close; i++) {
                char c = value.charAt(i);
                if (!(isHexDigit(c) || c == ':' || c == '.')) {
                    return false;
                }
            }
            i = close + 1;
            if (i < n && value.charAt(i) != ':') {
                return false;
            }
        } else {
            for (; i < n && value.charAt(i) != ':'; i++) {
                if (!isRegNameChar(value.charAt(i))) {
                    return false;
                }
            }
            if (i == 0) {
                return false;
            }
        }
        for (int k = i + 1; k < n; k++) {
            char c = value.charAt(k);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }

    private static boolean isHexDigit(char c) {
        return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F';
    }

    private static boolean isRegNameChar(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                || "-._~%!$&'()*+,;=".indexOf(c) >= 0;
    }

    /**
     * The request's {@code Max-Forwards} (RFC 9110 7.6.2), or {@code -1} when it has none or one that is not a
     * number, which is passed on as it came.
     */
    static long maxForwards(HttpHeaders h) {
        String value = h.get(HttpHeaderNames.MAX_FORWARDS);
        if (value == null || value.isEmpty() || value.length() > 18) {
            return -1;
        }
        long n = 0;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + c - '0';
        }
        return n;
    }

    private static boolean hasLowerCase(HttpMethod method) {
        if (method == HttpMethod.GET || method == HttpMethod.POST || method == HttpMethod.HEAD) {
            return false;
        }
        String name = method.name();
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c >= 'a' && c <= 'z') {
                return true;
            }
        }
        return false;
    }

    /** RFC 9110 9.2.2; the decoder hands out Netty's shared method instances, so identity is enough. */
    static boolean isIdempotent(HttpMethod method) {
        return method == HttpMethod.GET || method == HttpMethod.HEAD || method == HttpMethod.OPTIONS
                || method == HttpMethod.TRACE || method == HttpMethod.PUT || method == HttpMethod.DELETE;
    }
}
