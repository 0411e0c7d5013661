package io.canaryproxy.listener;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;

/** Checks on a decoded request head that the decoder itself does not make. */
final class RequestRules {

    private RequestRules() {
    }

    /** The status to refuse the request with, or {@code null} when it may be forwarded. */
    static HttpResponseStatus check(HttpRequest request) {
        HttpVersion version = request.protocolVersion();
        if (version.majorVersion() != 1 || version.minorVersion() > 1) {
            return HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED;
        }
        HttpHeaders h = request.headers();
        // RFC 9112 3.2: a 1.1 request without Host gets a 400 (one with more than one is refused by the decoder).
        if (version.minorVersion() == 1 && !h.contains(HttpHeaderNames.HOST)) {
            return HttpResponseStatus.BAD_REQUEST;
        }
        if (h.contains(HttpHeaderNames.TRANSFER_ENCODING)) {
            List<String> te = h.getAll(HttpHeaderNames.TRANSFER_ENCODING);
            if (te.size() > 1 || !HttpHeaderValues.CHUNKED.contentEqualsIgnoreCase(te.get(0).trim())) {
                // The decoder accepts any coding list ending in chunked; upstreams only understand plain chunked.
                return HttpResponseStatus.BAD_REQUEST;
            }
        }
        String uri = request.uri();
        if (uri.isEmpty()) {
            return HttpResponseStatus.BAD_REQUEST;
        }
        if (uri.charAt(0) != '/') {
            if ("*".equals(uri) && HttpMethod.OPTIONS.equals(request.method())) {
                return null;
            }
            if (HttpMethod.CONNECT.equals(request.method())) {
                return HttpResponseStatus.METHOD_NOT_ALLOWED;
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
            request.headers().set(HttpHeaderNames.HOST, uri.getRawAuthority());
            return true;
        } catch (URISyntaxException e) {
            return false;
        }
    }

    /** RFC 9110 9.2.2; the decoder hands out Netty's shared method instances, so identity is enough. */
    static boolean isIdempotent(HttpMethod method) {
        return method == HttpMethod.GET || method == HttpMethod.HEAD || method == HttpMethod.OPTIONS
                || method == HttpMethod.TRACE || method == HttpMethod.PUT || method == HttpMethod.DELETE;
    }
}
