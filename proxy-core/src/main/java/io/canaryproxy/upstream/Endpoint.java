package io.canaryproxy.upstream;

import io.canaryproxy.config.EndpointAddress;
import io.netty.channel.Channel;
import java.net.SocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upstream address of a release, with a connection pool per event loop and its health.
 *
 * <p>Health has two inputs. Active checks ({@link HealthChecker}) move it after {@code rise} successes or
 * {@code fall} failures in a row. Passive ejection takes an endpoint out at once after {@code eject-after}
 * consecutive connect failures, so that a dead gunicorn costs one refused connect, not one per request; it comes
 * back through active checks, or after {@code eject-duration} when those are off.
 */
public final class Endpoint {

    private static final Logger log = LoggerFactory.getLogger(Endpoint.class);

    private final EndpointAddress address;
    private final SocketAddress socketAddress;
    private final Class<? extends Channel> channelType;
    private final Release release;
    private final int ejectAfter;
    private final long ejectNanos;
    private final boolean activeChecks;
    private EndpointPool[] pools;

    private volatile boolean healthy = true;
    private volatile long ejectedUntilNanos;
    private final AtomicInteger connectFailures = new AtomicInteger();
    private final AtomicLong openConnections = new AtomicLong();

    Endpoint(EndpointAddress address, SocketAddress socketAddress, Class<? extends Channel> channelType,
             Release release, int ejectAfter, long ejectNanos, boolean activeChecks) {
        this.address = address;
        this.socketAddress = socketAddress;
        this.channelType = channelType;
        this.release = release;
        this.ejectAfter = ejectAfter;
        this.ejectNanos = ejectNanos;
        this.activeChecks = activeChecks;
    }

    void pools(EndpointPool[] pools) {
        this.pools = pools;
    }

    /** The pool owned by event loop number {@code loopIndex}. */
    public EndpointPool pool(int loopIndex) {
        return pools[loopIndex];
    }

    public EndpointAddress address() {
        return address;
    }

    public Release release() {
        return release;
    }

    SocketAddress socketAddress() {
        return socketAddress;
    }

    Class<? extends Channel> channelType() {
        return channelType;
    }

    /** Whether new requests may be sent here. */
    public boolean healthy() {
        if (healthy) {
            return true;
        }
        long until = ejectedUntilNanos;
        return !activeChecks && until != 0 && System.nanoTime() - until >= 0;
    }

    /** Open proxy connections to this endpoint: idle, busy and upgraded. */
    public long openConnections() {
        return openConnections.get();
    }

    void connected(Channel ch) {
        connectFailures.set(0);
        if (!activeChecks && !healthy) {
            setHealthy(true, "a connection succeeded");
        }
        openConnections.incrementAndGet();
        ch.closeFuture().addListener(f -> openConnections.decrementAndGet());
    }

    void connectFailed(Throwable cause) {
        int failures = connectFailures.incrementAndGet();
        if (failures >= ejectAfter && healthy) {
            ejectedUntilNanos = System.nanoTime() + ejectNanos;
            setHealthy(false, failures + " connect failures in a row (" + cause.getMessage() + ")");
        }
    }

    /** Called by active health checks. */
    void setHealthy(boolean value, String why) {
        if (healthy != value) {
            healthy = value;
            if (value) {
                connectFailures.set(0);
                log.info("endpoint {} of release {} is healthy: {}", address, release.name(), why);
            } else {
                log.warn("endpoint {} of release {} is unhealthy: {}", address, release.name(), why);
            }
        }
    }

    void closeIdle() {
        for (EndpointPool pool : pools) {
            pool.closeIdle();
        }
    }

    @Override
    public String toString() {
        return address.toString();
    }
}
