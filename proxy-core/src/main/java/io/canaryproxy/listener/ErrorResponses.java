package io.canaryproxy.listener;

import io.canaryproxy.internal.HttpDate;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;

/** The small responses the proxy writes itself. */
final class ErrorResponses {

    private ErrorResponses() {
    }

    /** {@code status} with a one-line plain-text body (none for a {@code HEAD}), on a connection that then closes. */
    static FullHttpResponse closing(HttpResponseStatus status, boolean head) {
        return of(status, true, head, false);
    }

    /**
     * {@code status} with a one-line plain-text body (none for a {@code HEAD}). An HTTP/1.0 client whose connection
     * stays open must be told so (RFC 9112 9.3): without {@code Connection: keep-alive} it waits for the close.
     */
    static FullHttpResponse of(HttpResponseStatus status, boolean close, boolean head, boolean http10Client) {
        byte[] text = (status.code() + " " + status.reasonPhrase() + "\n").getBytes(StandardCharsets.US_ASCII);
        ByteBuf body = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(text);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        response.headers()
                .set(HttpHeaderNames.DATE, HttpDate.value())
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, text.length);
        connection(response, close, http10Client);
        return response;
    }

    /**
     * {@code 200} with no body: the answer to an {@code OPTIONS} whose {@code Max-Forwards} ran out here, which the
     * proxy gives as the request's final recipient (RFC 9110 7.6.2). It lists no methods: which ones a resource
     * takes, only the app knows.
     */
    static FullHttpResponse optionsHere(boolean close, boolean http10Client) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.EMPTY_BUFFER);
        response.headers()
                .set(HttpHeaderNames.DATE, HttpDate.value())
                .setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        connection(response, close, http10Client);
        return response;
    }

    private static void connection(FullHttpResponse response, boolean close, boolean http10Client) {
        if (close) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (http10Client) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
    }

    static FullHttpResponse continue100() {
        return new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE, Unpooled.EMPTY_BUFFER);
    }
}
