package io.canaryproxy.upstream;

import io.netty.buffer.ByteBuf;

/**
 * What a pooled upstream connection reports to the client-side exchange that holds it. Every call happens on the
 * event loop that both connections share, so implementations need no synchronization.
 */
public interface UpstreamListener {

    /** {@code connection} is ready for the request that asked for it under {@code ticket}. */
    void onAcquired(UpstreamConnection connection, int ticket);

    /**
     * Whether the request that asked for a connection under {@code ticket} still wants it: false once its client
     * has gone or it has been answered otherwise. Asked of requests waiting for a pool at its limit.
     */
    boolean isWaitingFor(int ticket);

    /**
     * No connection could be had for {@code ticket}.
     *
     * @param connectFailed true when connecting failed, so nothing reached the upstream and any request may retry
     */
    void onAcquireFailed(int ticket, Throwable cause, boolean connectFailed);

    /**
     * The head of a response, interim (1xx) ones included. It is valid only during this call: its lines point into
     * a buffer the decoder reuses.
     */
    void onResponseHead(UpstreamConnection connection, ResponseHead head);

    /**
     * Body bytes (the data of a chunked body), or once the connection is upgraded, any bytes: the {@code length}
     * bytes of {@code data} from {@code index} on. They are lent for this call only: the listener copies them or
     * takes a {@link ByteBuf#retainedSlice(int, int) retained slice}, and leaves {@code data}'s indexes alone.
     */
    void onResponseBody(UpstreamConnection connection, ByteBuf data, int index, int length);

    /**
     * The response is complete.
     *
     * @param trailers the trailer fields of a chunked body as {@code name: value\r\n} lines, owned by the listener,
     *                 or null
     */
    void onResponseEnd(UpstreamConnection connection, ByteBuf trailers);

    /** The upstream sent something that is not a well-framed response; the connection must not be used again. */
    void onResponseMalformed(UpstreamConnection connection, String reason);

    void onUpstreamReadComplete(UpstreamConnection connection);

    void onUpstreamWritabilityChanged(UpstreamConnection connection);

    /** The connection closed or failed; {@code cause} is null for a plain close by the peer. */
    void onUpstreamClosed(UpstreamConnection connection, Throwable cause);
}
