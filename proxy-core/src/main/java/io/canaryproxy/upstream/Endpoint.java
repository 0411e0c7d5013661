package io.canaryproxy.upstream;

import io.canaryproxy.config.EndpointAddress;
import io.canaryproxy.internal.DurationText;
import io.canaryproxy.internal.Descriptors;
import io.canaryproxy.internal.IoFailures;
import io.netty.channel.Channel;
import io.netty.channel.ConnectTimeoutException;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upstream address of a release, with a connection pool per event loop and its health.
 *
 * <p>Health has two inputs. Active checks ({@link HealthChecker}) move it after {@code rise} successes or
 * {@code fall} failures in a row. Passive ejection takes an endpoint out at once after {@code eject-after}
 * consecutive connect failures, so that requests go to the release's other endpoints without trying it first; it
 * ends with the next passing check or connect, or after {@code eject-duration}. An endpoint ejected for connects
 * that failed at once (refused, no socket file) is still tried when no endpoint of its release is usable (see
 * {@link #lastResort()}): such a try costs microseconds, and the first request after a restarted gunicorn is back
 * gets through instead of a 503 until the next check, as nginx never takes the only server of a group out. It
 * counts as unhealthy all the same, so a canary in that state loses its users to the stable release and is rolled
 * back.
 */
public final class Endpoint {

    private static final Logger log = LoggerFactory.getLogger(Endpoint.class);

    private final EndpointAddress address;
    /** On this machine's loopback interface: a connect that times out there met a full listen backlog. */
    private final boolean loopback;
    private final SocketAddress socketAddress;
    private final Class<? extends Channel> channelType;
    private final Release release;
    private final int ejectAfter;
    private final long ejectNanos;
    /** Whether active checks run: a passing one ends an ejection before its time. */
    private final boolean healthChecked;
    private EndpointPool[] pools;

    private volatile boolean healthy = true;
    /** What the last failing health check said, while the checks hold the endpoint unhealthy. */
    private volatile String checkProblem;
    /** The ejection in force or last in force; {@code null} once a connect or a passing check has ended it. */
    private final AtomicReference<Ejection> ejection = new AtomicReference<>();
    private final AtomicInteger connectFailures = new AtomicInteger();
    private final AtomicLong openConnections = new AtomicLong();

    Endpoint(EndpointAddress address, SocketAddress socketAddress, Class<? extends Channel> channelType,
             Release release, int ejectAfter, long ejectNanos, boolean healthChecked) {
        this.address = address;
        this.loopback = address.isLoopback();
        this.socketAddress = socketAddress;
        this.channelType = channelType;
        this.release = release;
        this.ejectAfter = ejectAfter;
        this.ejectNanos = ejectNanos;
        this.healthChecked = healthChecked;
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

    /** Whether new requests should be sent here: its health checks pass and it is not ejected. */
    public boolean healthy() {
        return healthy && !ejected();
    }

    /**
     * Whether a request may be sent here when no endpoint of the release is healthy. Failing health checks alone
     * do not rule an endpoint out then: checks time out on a gunicorn that is busy or restarting its workers, and
     * answering every user with 503 would be worse than trying. An ejected endpoint is out (but see
     * {@link #lastResort()}).
     */
    public boolean usable() {
        return !ejected();
    }

    /**
     * Whether a request may be sent here when no endpoint of the release is usable: the endpoint is ejected, and
     * its last connects failed at once, or timed out on the loopback interface. Another try of one that refuses
     * costs microseconds and is the first to see a restarted gunicorn back; one on this machine whose accept queue
     * is full is the only place the request can be served. A host elsewhere whose connects time out may be gone
     * from the network, and would hold each request for the connect timeout instead.
     */
    public boolean lastResort() {
        Ejection e = ejection.get();
        return e != null && e.inForce() && e.refusals();
    }

    private boolean ejected() {
        Ejection e = ejection.get();
        return e != null && e.inForce();
    }

    /**
     * Why no new request is sent here as to a healthy endpoint, as {@code /status} shows it: {@code null} while it
     * is healthy; {@code "ejected after 3 connect failures in a row (no such socket file); still tried while its
     * release has nothing else"}; {@code "health check: GET /healthz answered 500"}.
     */
    public String problem() {
        Ejection e = ejection.get();
        if (e != null && e.inForce()) {
            return "ejected after " + e.why()
                    + (e.refusals() ? "; still tried while its release has nothing else" : "");
        }
        return healthy ? null : "health check: " + checkProblem;
    }

    /**
     * One ejection: until when, whether its connects failed at once, and the failures that caused it (for
     * {@link #problem()}). Replaced whole, never changed.
     */
    private record Ejection(long untilNanos, boolean refusals, String why) {
        boolean inForce() {
            return System.nanoTime() - untilNanos < 0;
        }
    }

    /** Open proxy connections to this endpoint: idle, busy and upgraded. */
    public long openConnections() {
        return openConnections.get();
    }

    void connected(Channel ch) {
        connectFailures.set(0);
        if (ejection.get() != null && ejection.getAndSet(null) != null) {
            // Tried as the last resort, or after its ejection ran out: it takes connections again.
            log.info("endpoint {} of release {} is back: connected", address, release.name());
        }
        openConnections.incrementAndGet();
        ch.closeFuture().addListener(f -> openConnections.decrementAndGet());
    }

    void connectFailed(Throwable cause) {
        if (IoFailures.isOutOfDescriptors(cause)) {
            // The proxy's own limit: every endpoint would fail alike, and ejecting them would outlast the shortage.
            Descriptors.report("connect to " + address + " of release " + release.name());
            return;
        }
        if (IoFailures.isBusy(cause)) {
            // A Unix socket's listen backlog is full: the process is busy, not gone. Ejecting it would turn a
            // moment of overload into 503s for everyone until the next health check.
            return;
        }
        int failures = connectFailures.incrementAndGet();
        // A loopback port drops SYNs when its accept queue is full (all sync workers busy), or for good when its
        // process is stopped: ejected, its release's other endpoints take the requests, but with none left it is
        // still tried, as a refusing one is, since nothing on this machine is gone from the network.
        boolean refused = IoFailures.isRefused(cause) || loopback && cause instanceof ConnectTimeoutException;
        Ejection current = ejection.get();
        boolean inForce = current != null && current.inForce();
        // In force, an ejection changes only its kind: refused before, timing out now (a host gone from the
        // network), it is no longer worth a try, or the other way round.
        if (inForce ? current.refusals() == refused : failures < ejectAfter) {
            return;
        }
        Ejection next = new Ejection(inForce ? current.untilNanos() : System.nanoTime() + ejectNanos, refused,
                failures + " connect failures in a row (" + IoFailures.describeConnect(cause) + ")");
        // A connect or a passing check that ended the ejection meanwhile wins.
        if (!ejection.compareAndSet(current, next) || inForce) {
            return;
        }
        log.warn("endpoint {} of release {} ejected for {}{}: {}{}", address, release.name(),
                DurationText.of(Duration.ofNanos(ejectNanos)), healthChecked ? " or until a health check passes" : "",
                next.why(), refused ? "; while the release has no other endpoint to use, requests still try it" : "");
    }

    /**
     * Called by active health checks on every passing check, before {@code rise} of them have passed: the ejection
     * was for connects failing, and this one connected and was answered.
     */
    void checkPassed(String why) {
        if (ejection.get() != null && ejection.getAndSet(null) != null) {
            connectFailures.set(0);
            if (healthy) {
                log.info("endpoint {} of release {} is back: {}", address, release.name(), why);
            }
        }
    }

    /** Called by active health checks after {@code rise} passing or {@code fall} failing checks in a row. */
    void setHealthy(boolean value, String why) {
        if (!value) {
            checkProblem = why;
        }
        if (healthy != value) {
            healthy = value;
            if (value) {
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
