package io.canaryproxy.listener;

import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;

/**
 * Netty's response encoder, told when the response answers a HEAD request: such a response carries the headers a
 * GET would have (Content-Length, or Transfer-Encoding: chunked) but no body, not even a last chunk. Netty's
 * server codec learns this by queueing request methods; the proxy handles one request at a time and just says so.
 */
final class ResponseEncoder extends HttpResponseEncoder {

    private boolean headRequest;

    void headRequest(boolean value) {
        headRequest = value;
    }

    @Override
    protected boolean isContentAlwaysEmpty(HttpResponse msg) {
        return headRequest || super.isContentAlwaysEmpty(msg);
    }
}
