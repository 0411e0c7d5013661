package io.canaryproxy.upstream;

import io.netty.buffer.ByteBuf;

/** The end of a response body, with the trailer fields that came after a chunked body, if any. */
final class ResponseEnd {

    static final ResponseEnd NO_TRAILERS = new ResponseEnd(null);

    /** {@code name: value\r\n} lines, or null. */
    final ByteBuf trailers;

    ResponseEnd(ByteBuf trailers) {
        this.trailers = trailers;
    }
}
