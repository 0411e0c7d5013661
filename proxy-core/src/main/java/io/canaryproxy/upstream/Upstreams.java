package io.canaryproxy.upstream;

import io.canaryproxy.config.EndpointAddress;
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
 * health checker per endpoint.
 */
public final class Upstreams {

    private final Map<String, Release> releases;
    private final List<HealthChecker> checkers = new ArrayList<>();

    public Upstreams(ProxyConfig config, Transport transport, EventLoop[] loops, MeterRegistry registry) {
        UpstreamConfig up = config.upstream();
        boolean activeChecks = config.healthCheck().enabled();
        Map<String, Release> byName = new LinkedHashMap<>();
        int checkerLoop = 0;
        for (ReleaseConfig rc : config.releases().values()) {
            Release release = new Release(rc.name(), loops.length, new ReleaseMetrics(registry, rc.name()));
            Endpoint[] endpoints = new Endpoint[rc.endpoints().size()];
            for (int i = 0; i < endpoints.length; i++) {
                EndpointAddress address = rc.endpoints().get(i);
                Endpoint e = new Endpoint(address, transport.socketAddress(address), transport.clientChannel(address),
                        release, up.ejectAfter(), up.ejectDuration().toNanos());
                EndpointPool[] pools = new EndpointPool[loops.length];
                int perLoop = Math.max(1, up.maxConnections() / loops.length);
                for (int l = 0; l < loops.length; l++) {
                    pools[l] = new EndpointPool(e, loops[l], perLoop, up.poolIdleTimeout().toNanos(),
                            (int) Math.min(Integer.MAX_VALUE, up.connectTimeout().toMillis()),
                            64 * 1024);
                }
                e.pools(pools);
                endpoints[i] = e;
                if (activeChecks) {
                    checkers.add(new HealthChecker(e, loops[checkerLoop++ % loops.length], config.healthCheck()));
                }
            }
            release.endpoints(endpoints);
            byName.put(rc.name(), release);
        }
        this.releases = Collections.unmodifiableMap(byName);
    }

    public void startHealthChecks() {
        checkers.forEach(HealthChecker::start);
    }

    public void stopHealthChecks() {
        checkers.forEach(HealthChecker::stop);
    }

    /** The release of that name, or {@code null}. */
    public Release release(String name) {
        return releases.get(name);
    }

    /** All releases, in configuration order. */
    public Collection<Release> releases() {
        return releases.values();
    }
}
