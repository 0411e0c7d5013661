package io.canaryproxy.metrics;

import io.canaryproxy.routing.RouteState;
import io.canaryproxy.upstream.Endpoint;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;

/** Gauges read at scrape time from the proxy's own state: nothing extra is recorded on the hot path. */
public final class ProxyMeters {

    private ProxyMeters() {
    }

    /** Registers the gauges and returns them, so that a reload can replace them. */
    public static List<Meter> bind(MeterRegistry registry, Upstreams upstreams, RouteState routes) {
        List<Meter> meters = new ArrayList<>();
        for (Release r : upstreams.releases()) {
            meters.add(Gauge.builder("canary.proxy.inflight.requests", r, Release::inflight)
                    .description("Requests not yet answered completely")
                    .tag("release", r.name()).register(registry));
            meters.add(Gauge.builder("canary.proxy.upstream.connections", r, Release::connections)
                    .description("Open connections to the release's endpoints: pooled, busy and upgraded")
                    .tag("release", r.name()).register(registry));
            meters.add(Gauge.builder("canary.proxy.upgraded.connections", r, Release::upgradedCount)
                    .description("Upgraded (WebSocket) connections")
                    .tag("release", r.name()).register(registry));
            meters.add(Gauge.builder("canary.proxy.release.routed", r, x -> x.routed() ? 1 : 0)
                    .description("1 when the route table sends new requests to the release")
                    .tag("release", r.name()).register(registry));
            for (Endpoint e : r.endpoints()) {
                meters.add(Gauge.builder("canary.proxy.endpoint.healthy", e, x -> x.healthy() ? 1 : 0)
                        .description("1 when the endpoint passes its health checks and is not ejected")
                        .tag("release", r.name()).tag("endpoint", e.toString()).register(registry));
                meters.add(Gauge.builder("canary.proxy.endpoint.connections", e, Endpoint::openConnections)
                        .description("Open connections to the endpoint (its pools across event loops)")
                        .tag("release", r.name()).tag("endpoint", e.toString()).register(registry));
            }
        }
        meters.add(Gauge.builder("canary.proxy.canary.weight.percent", routes, s -> s.table().weightPercent())
                .description("Share of users sent to the canary, in percent")
                .register(registry));
        return meters;
    }
}
