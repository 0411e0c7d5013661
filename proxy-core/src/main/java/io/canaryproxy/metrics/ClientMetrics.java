package io.canaryproxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Requests the proxy refused itself before any release saw them (400, 413, 414, 431, 417...): not in
 * {@code canary_proxy_requests_total}, which counts what releases answered, but an operator should see a client
 * that sends malformed or oversized requests.
 */
public final class ClientMetrics {

    private final MeterRegistry registry;
    private final ConcurrentMap<Integer, Counter> rejected = new ConcurrentHashMap<>();

    public ClientMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** One request refused with {@code status}. */
    public void rejected(int status) {
        rejected.computeIfAbsent(status, s -> Counter.builder("canary.proxy.client.rejected")
                .description("Requests the proxy refused before routing them, by status")
                .tag("status", Integer.toString(s))
                .register(registry)).increment();
    }
}
