package io.canaryproxy.metrics;

import io.canaryproxy.routing.RouteState;
import io.canaryproxy.upstream.Endpoint;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Gauges read at scrape time from the proxy's own state: nothing extra is recorded on the hot path. */
public final class ProxyMeters {

    private ProxyMeters() {
    }

    /**
     * A release's requests and connections, counting the generations of it that a reload replaced and that still
     * drain, as {@code /status} and {@code /drain} count them: the processes behind an old generation may be the
     * ones a deploy is about to stop, so a gauge that forgot them would say "nothing open" too early.
     */
    public interface Totals {
        long inflight(String release);

        long connections(String release);

        long upgraded(String release);
    }

    /** A release's request and connection gauges, over all its generations (see {@link Totals}). */
    private static void bindTotals(MeterRegistry registry, String name, Totals totals, List<Meter> meters) {
        meters.add(Gauge.builder("canary.proxy.inflight.requests", totals, t -> t.inflight(name))
                .description("Requests not yet answered completely")
                .tag("release", name).register(registry));
        meters.add(Gauge.builder("canary.proxy.upstream.connections", totals, t -> t.connections(name))
                .description("Open connections to the release's endpoints: pooled, busy and upgraded")
                .tag("release", name).register(registry));
        meters.add(Gauge.builder("canary.proxy.upgraded.connections", totals, t -> t.upgraded(name))
                .description("Upgraded (WebSocket) connections")
                .tag("release", name).register(registry));
    }

    /**
     * Registers the gauges and returns them, so that a reload can replace them. {@code removed} names releases a
     * reload took out that may still drain.
     */
    public static List<Meter> bind(MeterRegistry registry, Upstreams upstreams, Collection<String> removed,
                                   RouteState routes, Totals totals) {
        List<Meter> meters = new ArrayList<>();
        for (Release r : upstreams.releases()) {
            bindTotals(registry, r.name(), totals, meters);
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
        // A release a reload removed while requests still ran on it: counted until they are done, as /status does.
        for (String name : removed) {
            if (upstreams.release(name) == null) {
                bindTotals(registry, name, totals, meters);
            }
        }
        meters.add(Gauge.builder("canary.proxy.canary.weight.percent", routes, s -> s.table().weightPercent())
                .description("Share of users sent to the canary, in percent")
                .register(registry));
        return meters;
    }
}
