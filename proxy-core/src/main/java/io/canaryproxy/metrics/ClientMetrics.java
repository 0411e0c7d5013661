package io.canaryproxy.metrics;

import io.micrometer.core.instrument.MeterRegistry;

/**
 * Requests the proxy refused itself before any release saw them (400, 413, 414, 431, 417...): not in
 * {@code canary_proxy_requests_total}, which counts what releases answered, but an operator should see a client
 * that sends malformed or oversized requests.
 */
public final class ClientMetrics {

    private final TaggedCounters rejected;

    public ClientMetrics(MeterRegistry registry) {
        rejected = new TaggedCounters(registry, "canary.proxy.client.rejected",
                "Requests the proxy refused before routing them, by status", "status");
    }

    /** One request refused with {@code status}. */
    public void rejected(int status) {
        rejected.increment(Integer.toString(status));
    }
}
