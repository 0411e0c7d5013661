package io.canaryproxy.upstream;

/**
 * What a pooled upstream connection reports to the client-side exchange that holds it. Every call happens on the
 * event loop that both connections share, so implementations need no synchronization.
 */
public interface UpstreamListener {

    /** {@code connection} is ready for the request that asked for it under {@code ticket}. */
    void onAcquired(UpstreamConnection connection, int ticket);

    /**
     * No connection could be had for {@code ticket}.
     *
     * @param connectFailed true when connecting failed, so nothing reached the upstream and any request may retry
     */
    void onAcquireFailed(int ticket, Throwable cause, boolean connectFailed);

    /** A message (or, once upgraded, a raw buffer) from the upstream; the listener owns it. */
    void onUpstreamRead(UpstreamConnection connection, Object msg);

    void onUpstreamReadComplete(UpstreamConnection connection);

    void onUpstreamWritabilityChanged(UpstreamConnection connection);

    /** The connection closed or failed; {@code cause} is null for a plain close by the peer. */
    void onUpstreamClosed(UpstreamConnection connection, Throwable cause);
}
