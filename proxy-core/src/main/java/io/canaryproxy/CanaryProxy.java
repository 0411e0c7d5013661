package io.canaryproxy;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.routing.RouteTable;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The embeddable proxy: one listener in front of the configured releases.
 *
 * <pre>{@code
 * CanaryProxy proxy = CanaryProxy.start(ConfigLoader.load(Path.of("conf/canary-proxy.conf")));
 * proxy.switchTo("green");
 * proxy.awaitDrained("blue", Duration.ofSeconds(30)).join();
 * proxy.close();
 * }</pre>
 *
 * <p>All methods are thread-safe.
 */
public final class CanaryProxy implements AutoCloseable {

    /** Binds the listener, starts health checks and returns once the proxy accepts connections. */
    public static CanaryProxy start(ProxyConfig config) {
        throw new UnsupportedOperationException("not yet");
    }

    /** The configuration this proxy runs with. */
    public ProxyConfig config() {
        throw new UnsupportedOperationException("not yet");
    }

    /** The address the listener is bound to (the real port when the config asked for port 0). */
    public InetSocketAddress listenAddress() {
        throw new UnsupportedOperationException("not yet");
    }

    /** The route table in force. */
    public RouteTable routes() {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Makes {@code release} stable at 100 % at once and starts draining every release that no longer gets traffic.
     *
     * @return the new route table
     * @throws IllegalArgumentException when no release has that name
     * @throws IllegalStateException    when the release has no healthy endpoint and {@code force} is false
     */
    public RouteTable switchTo(String release, boolean force) {
        throw new UnsupportedOperationException("not yet");
    }

    /** A snapshot of the route table and of every release's endpoints, health and traffic. */
    public ProxyStatus status() {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Completes with the release's state once it is drained (no request in flight, no connection open), or with its
     * state at the deadline. Never completes exceptionally for a known release.
     *
     * @throws IllegalArgumentException when no release has that name
     */
    public CompletableFuture<ProxyStatus.Release> awaitDrained(String release, Duration timeout) {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * Graceful stop: stops accepting, lets in-flight requests finish (at most {@code drain.timeout}), closes every
     * connection and releases the threads. Idempotent.
     */
    public void stop() {
        throw new UnsupportedOperationException("not yet");
    }

    /** Same as {@link #stop()}. */
    @Override
    public void close() {
        stop();
    }
}
