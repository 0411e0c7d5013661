package io.canaryproxy.upstream;

import io.canaryproxy.config.HealthCheckConfig;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.UpstreamConfig;
import io.canaryproxy.analysis.ReleaseWindow;
import io.canaryproxy.metrics.ReleaseMetrics;
import io.netty.channel.Channel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.ChannelGroupFuture;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * A deployed version of the application at run time: its endpoints and what is in flight on it.
 */
public final class Release {

    /** What {@link #pick} looks for, in this order. */
    private static final int HEALTHY = 0;
    private static final int USABLE = 1;
    private static final int LAST_RESORT = 2;

    /**
     * Fired at the client side of an upgraded connection that a drain or a stop ends. Its handler may end it more
     * gently than a close (a WebSocket Close frame between two frames); it is closed {@value #END_GRACE_MILLIS} ms
     * later whatever the handler does.
     */
    public static final Object ENDING_TUNNEL = new Object() {
        @Override
        public String toString() {
            return "ENDING_TUNNEL";
        }
    };
    private static final long END_GRACE_MILLIS = 1000;

    private final String name;
    private final ReleaseConfig source;
    private final UpstreamConfig upstreamConfig;
    private final HealthCheckConfig healthConfig;
    private List<HealthChecker> checkers = List.of();
    private boolean checksStarted;
    private Endpoint[] endpoints = new Endpoint[0];
    private final int[] nextByLoop;
    private final LongAdder inflight = new LongAdder();
    private final ChannelGroup upgraded;
    /** When a client connection was upgraded: a drain closes only the tunnels older than the switch. */
    private static final AttributeKey<Long> UPGRADED_AT = AttributeKey.valueOf(Release.class, "upgradedAt");
    /** The route table has sent requests here and stopped since; false for a release only testers pin. */
    private volatile boolean everUnrouted;
    private final ChannelGroup upstreamChannels;
    private volatile boolean routed;
    /** A reload replaced or removed this generation of the release: requests finish here, none starts. */
    private volatile boolean retired;
    private volatile long retiredAtNanos;
    private volatile long unroutedSinceNanos = System.nanoTime();
    private final ReleaseMetrics metrics;
    private final ReleaseWindow window;

    /**
     * @param window the analysis window: a new generation of a release (after a reload) keeps its predecessor's, so
     *               that a check judges the whole interval, and requests that finish on the old generation count
     */
    Release(ReleaseConfig source, UpstreamConfig upstreamConfig, HealthCheckConfig healthConfig, int loops,
            ReleaseMetrics metrics, ReleaseWindow window) {
        this.name = source.name();
        this.window = window;
        this.source = source;
        this.upstreamConfig = upstreamConfig;
        this.healthConfig = healthConfig;
        this.metrics = metrics;
        this.nextByLoop = new int[loops];
        this.upgraded = new DefaultChannelGroup(name + "-upgraded", GlobalEventExecutor.INSTANCE);
        this.upstreamChannels = new DefaultChannelGroup(name + "-upstream", GlobalEventExecutor.INSTANCE);
    }

    void endpoints(Endpoint[] endpoints, List<HealthChecker> checkers) {
        this.endpoints = endpoints;
        this.checkers = List.copyOf(checkers);
    }

    /** Whether this release was built from exactly these settings, so that a reload can keep it as it is. */
    boolean builtFrom(ReleaseConfig config, UpstreamConfig upstream, HealthCheckConfig health) {
        return source.equals(config) && upstreamConfig.equals(upstream) && healthConfig.equals(health);
    }

    /** The configuration this release was built from. */
    public ReleaseConfig config() {
        return source;
    }

    synchronized void startHealthChecks() {
        if (!checksStarted) {
            checksStarted = true;
            checkers.forEach(HealthChecker::start);
        }
    }

    /** Stops the active health checks; idempotent. */
    public synchronized void stopHealthChecks() {
        checkers.forEach(HealthChecker::stop);
    }

    /** A reload replaced or removed this generation; see {@link #isRetired()}. */
    public void retire() {
        retiredAtNanos = System.nanoTime();
        retired = true;
    }

    /** How long ago a reload retired this generation at {@code nowNanos}; -1 while it has not. */
    public long retiredForNanos(long nowNanos) {
        return retired ? nowNanos - retiredAtNanos : -1;
    }

    /**
     * Whether a reload replaced or removed this generation of the release. A request routed to it before that
     * and still without an upstream (its chunked body being collected, say) is sent to the release as it is now:
     * the endpoints a reload took out may be stopped as soon as nothing uses them.
     */
    public boolean isRetired() {
        return retired;
    }

    public String name() {
        return name;
    }

    public ReleaseMetrics metrics() {
        return metrics;
    }

    /** The analysis window: what this release did since the judge last looked. */
    public ReleaseWindow window() {
        return window;
    }

    /** A response of this release ended: metrics and analysis window, in one call from the data plane. */
    public void responded(int status, long nanos) {
        metrics.response(status, nanos);
        window.record(status, nanos);
    }

    /**
     * An answer the proxy gave in this release's name for a failure of its own (no file descriptor left): counted
     * in the metrics, which tell what users got, but not in the analysis window, which judges the release.
     */
    public void respondedForTheProxy(int status, long nanos) {
        metrics.response(status, nanos);
    }

    /**
     * A response its client left before the end (an event stream closed, a download cancelled): metrics and
     * analysis window count it under its status, with no latency, since how long it lasted was the client's choice.
     */
    public void respondedUntimed(int status) {
        metrics.responseCut(status);
        window.recordUntimed(status);
    }

    public List<Endpoint> endpoints() {
        return List.of(endpoints);
    }

    /**
     * The next endpoint in round-robin order for event loop {@code loopIndex}: a healthy one, preferably other than
     * {@code avoid} (the endpoint that just failed); when none is healthy, one that is not ejected (see
     * {@link Endpoint#usable()}); when every one is ejected, one that may be tried as the last resort (see
     * {@link Endpoint#lastResort()}). Never one of {@code excluded}, the endpoints the request in hand has failed on
     * ({@code null} for none). {@code null} when no endpoint is left.
     */
    public Endpoint pick(int loopIndex, Endpoint avoid, List<Endpoint> excluded) {
        Endpoint e = pick(loopIndex, avoid, excluded, HEALTHY);
        if (e == null) {
            e = pick(loopIndex, avoid, excluded, USABLE);
            if (e == null) {
                e = pick(loopIndex, avoid, excluded, LAST_RESORT);
            }
        }
        return e;
    }

    private Endpoint pick(int loopIndex, Endpoint avoid, List<Endpoint> excluded, int wanted) {
        Endpoint[] all = endpoints;
        int n = all.length;
        int start = nextByLoop[loopIndex];
        Endpoint fallback = null;
        for (int i = 0; i < n; i++) {
            Endpoint e = all[(start + i) % n];
            if (is(e, wanted) && (excluded == null || !excluded.contains(e))) {
                if (e != avoid) {
                    nextByLoop[loopIndex] = (start + i + 1) % n;
                    return e;
                }
                fallback = e;
            }
        }
        return fallback;
    }

    private static boolean is(Endpoint e, int wanted) {
        return switch (wanted) {
            case HEALTHY -> e.healthy();
            case USABLE -> e.usable();
            default -> e.lastResort();
        };
    }

    /** Whether at least one endpoint passes its health checks. */
    public boolean hasHealthyEndpoint() {
        for (Endpoint e : endpoints) {
            if (e.healthy()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Why each endpoint is not healthy, as {@code /status} shows it, joined by {@code "; "}: {@code
     * "127.0.0.1:8002: health check: no answer within 1000 ms"}. Empty when every endpoint is healthy.
     */
    public String problems() {
        StringJoiner all = new StringJoiner("; ");
        for (Endpoint e : endpoints) {
            String problem = e.problem();
            if (problem != null) {
                all.add(e + ": " + problem);
            }
        }
        return all.toString();
    }

    /**
     * Asks every endpoint now, with the release's health check: completes with {@code null} as soon as one answers,
     * or, when none does, with each endpoint's reason ({@code "unix:/run/green.sock: connect failed: no such socket
     * file"}). The last scheduled check can be an interval or more old: a gunicorn stopped since still counts as
     * healthy there, and a switch that trusted it would send every user to a dead release. Without health checks,
     * the endpoints' state is all there is to go by.
     */
    public CompletableFuture<String> probe() {
        if (checkers.isEmpty()) {
            return CompletableFuture.completedFuture(hasHealthyEndpoint() ? null : "no healthy endpoint");
        }
        CompletableFuture<String> answer = new CompletableFuture<>();
        String[] reasons = new String[checkers.size()];
        AtomicInteger pending = new AtomicInteger(checkers.size());
        for (int i = 0; i < checkers.size(); i++) {
            int index = i;
            HealthChecker checker = checkers.get(i);
            checker.probeNow().whenComplete((problem, failure) -> {
                if (failure == null && problem == null) {
                    answer.complete(null);
                    return;
                }
                reasons[index] = checker.endpoint() + ": " + (failure != null ? failure.toString() : problem);
                if (pending.decrementAndGet() == 0) {
                    answer.complete(String.join("; ", reasons));
                }
            });
        }
        return answer;
    }

    /** Whether some endpoint is not ejected. */
    public boolean hasUsableEndpoint() {
        for (Endpoint e : endpoints) {
            if (e.usable()) {
                return true;
            }
        }
        return false;
    }

    /** Whether a request may be sent to this release: an endpoint is usable, or may be tried as the last resort. */
    public boolean hasEndpointToTry() {
        for (Endpoint e : endpoints) {
            if (e.usable() || e.lastResort()) {
                return true;
            }
        }
        return false;
    }

    /** Requests of this release not yet answered completely. */
    public long inflight() {
        return inflight.sum();
    }

    public void requestStarted() {
        inflight.increment();
    }

    public void requestEnded() {
        inflight.decrement();
    }

    /**
     * Registers the client side of an upgraded connection, so that a drain can close it. The tunnel belongs to the
     * drain that began after {@code routedAtNanos}, when its request was routed here, however late the 101 came;
     * if that drain's {@code drainTimeoutNanos} has already run out, its timer has passed it by, and it is ended
     * now.
     */
    public void upgraded(Channel clientChannel, long routedAtNanos, long drainTimeoutNanos) {
        clientChannel.attr(UPGRADED_AT).set(routedAtNanos);
        upgraded.add(clientChannel);
        long now = System.nanoTime();
        boolean retiredTooLong = retiredForNanos(now) >= drainTimeoutNanos;
        boolean drainedTooLong = !routed && everUnrouted && routedAtNanos - unroutedSinceNanos < 0
                && now - unroutedSinceNanos >= drainTimeoutNanos;
        if (retiredTooLong || drainedTooLong) {
            // After the caller has set the tunnel up: ending it is an event its handler must be ready for.
            clientChannel.eventLoop().execute(() -> end(clientChannel));
        }
    }

    public int upgradedCount() {
        return upgraded.size();
    }

    /** Open proxy connections to all endpoints. */
    public long connections() {
        long sum = 0;
        for (Endpoint e : endpoints) {
            sum += e.openConnections();
        }
        return sum;
    }

    /** Whether the route table sends new requests here. Connections of an unrouted release are not pooled. */
    public boolean routed() {
        return routed;
    }

    /**
     * How long ago, in nanoseconds before {@code now}, the route table last stopped sending requests here; 0 while it
     * does. Upgraded connections get {@code drain.timeout} from that moment, not from an earlier change.
     */
    public long unroutedForNanos(long now) {
        return routed ? 0 : now - unroutedSinceNanos;
    }

    /** Set by the route table owner only. */
    public void routed(boolean value) {
        if (routed && !value) {
            unroutedSinceNanos = System.nanoTime();
            everUnrouted = true;
        }
        routed = value;
        if (!value) {
            for (Endpoint e : endpoints) {
                e.closeIdle();
            }
        }
    }

    /** Registers a channel to one of this release's endpoints, pooled or health check, as it is created. */
    void track(Channel upstreamChannel) {
        upstreamChannels.add(upstreamChannel);
    }

    /**
     * Closes every connection to this release's endpoints, idle, busy or probing, for a shutdown. The future
     * completes once all are closed: the event loops must not stop before that, because with io_uring a channel
     * still open at the loop's end leaves its pending receive buffer unreleased.
     */
    public ChannelGroupFuture closeUpstreamChannels() {
        return upstreamChannels.close();
    }

    /** Ends every upgraded connection of this release. */
    public void closeUpgraded() {
        for (Channel ch : upgraded) {
            end(ch);
        }
    }

    private static void end(Channel ch) {
        ch.pipeline().fireUserEventTriggered(ENDING_TUNNEL);
        try {
            ch.eventLoop().schedule(() -> {
                ch.close();
            }, END_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopping) {
            ch.close();
        }
    }

    /**
     * Ends every upgraded connection of this generation, a tester's pinned ones included: a reload took its
     * endpoints or pools out, and their processes are to be stopped once nothing uses them.
     */
    public int closeAllUpgraded() {
        int closed = 0;
        for (Channel ch : upgraded) {
            end(ch);
            closed++;
        }
        return closed;
    }

    /**
     * Closes the upgraded connections whose requests came before the route table last stopped sending requests
     * here: the ones a switch or rollback drains. A tunnel opened since, by a tester who pinned this release with
     * {@code cp_release}, is the tester's to end; so are all tunnels of a release the route table never used.
     *
     * @return how many were closed
     */
    public int closeUpgradedFromBeforeUnrouted() {
        if (!everUnrouted) {
            return 0;
        }
        int closed = 0;
        for (Channel ch : upgraded) {
            Long at = ch.attr(UPGRADED_AT).get();
            if (at == null || at - unroutedSinceNanos < 0) {
                end(ch);
                closed++;
            }
        }
        return closed;
    }
}
