package io.canaryproxy.upstream;

import io.canaryproxy.analysis.ReleaseWindow;
import io.canaryproxy.config.EndpointAddress;
import io.canaryproxy.config.HealthCheckConfig;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.UpstreamConfig;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.metrics.ReleaseMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every release and endpoint of one proxy, built from the config: a pool per endpoint and event loop, and a
 * health checker per endpoint. Immutable; a reload builds a new one that keeps every release whose endpoints and
 * upstream settings did not change, with its pools, health and traffic.
 */
public final class Upstreams {

    private final Map<String, Release> releases;
    private final List<Release> retired;

    private Upstreams(Map<String, Release> releases, List<Release> retired) {
        this.releases = Collections.unmodifiableMap(releases);
        this.retired = List.copyOf(retired);
    }

    public Upstreams(ProxyConfig config, Transport transport, EventLoop[] loops, MeterRegistry registry) {
        this(build(config, transport, loops, registry, null), List.of());
    }

    /**
     * The upstreams of {@code config}, reusing the releases of {@code previous} that it leaves as they were.
     * Releases that changed or went away are in {@link #retired()}; their health checks are still running.
     */
    public static Upstreams rebuild(Upstreams previous, ProxyConfig config, Transport transport, EventLoop[] loops,
                                    MeterRegistry registry) {
        Map<String, Release> next = build(config, transport, loops, registry, previous);
        List<Release> retired = new ArrayList<>();
        for (Release old : previous.releases()) {
            if (next.get(old.name()) != old) {
                retired.add(old);
            }
        }
        return new Upstreams(next, retired);
    }

    private static Map<String, Release> build(ProxyConfig config, Transport transport, EventLoop[] loops,
                                              MeterRegistry registry, Upstreams previous) {
        UpstreamConfig up = config.upstream();
        HealthCheckConfig hc = config.healthCheck();
        Map<String, Release> byName = new LinkedHashMap<>();
        int checkerLoop = 0;
        for (ReleaseConfig rc : config.releases().values()) {
            Release old = previous == null ? null : previous.release(rc.name());
            if (old != null && old.builtFrom(rc, up, hc)) {
                byName.put(rc.name(), old);
                continue;
            }
            Release release = new Release(rc, up, hc, loops.length, new ReleaseMetrics(registry, rc.name()),
                    old != null ? old.window() : new ReleaseWindow());
            Endpoint[] endpoints = new Endpoint[rc.endpoints().size()];
            List<HealthChecker> checkers = new ArrayList<>();
            for (int i = 0; i < endpoints.length; i++) {
                EndpointAddress address = rc.endpoints().get(i);
                Endpoint e = new Endpoint(address, transport.socketAddress(address), transport.clientChannel(address),
                        release, up.ejectAfter(), up.ejectDuration().toNanos(), hc.enabled());
                EndpointPool[] pools = new EndpointPool[loops.length];
                int perLoop = Math.max(1, up.maxConnections() / loops.length);
                int idlePerLoop = Math.max(1, up.maxIdleConnections() / loops.length);
                for (int l = 0; l < loops.length; l++) {
                    pools[l] = new EndpointPool(e, loops[l], perLoop, idlePerLoop, up.poolIdleTimeout().toNanos(),
                            (int) Math.min(Integer.MAX_VALUE, up.connectTimeout().toMillis()),
                            ResponseDecoder.MAX_HEAD_SIZE);
                }
                e.pools(pools);
                endpoints[i] = e;
                if (hc.enabled()) {
                    checkers.add(new HealthChecker(e, loops[checkerLoop++ % loops.length], hc));
                }
            }
            release.endpoints(endpoints, checkers);
            byName.put(rc.name(), release);
        }
        return byName;
    }

    /** Starts the health checks of every release that has not started them yet. */
    public void startHealthChecks() {
        releases.values().forEach(Release::startHealthChecks);
    }

    public void stopHealthChecks() {
        releases.values().forEach(Release::stopHealthChecks);
    }

    /** The release of that name, or {@code null}. */
    public Release release(String name) {
        return releases.get(name);
    }

    /** All releases, in configuration order. */
    public Collection<Release> releases() {
        return releases.values();
    }

    /** Releases of the previous generation that this one replaced or dropped; they are left to drain. */
    public List<Release> retired() {
        return retired;
    }
}
