package io.canaryproxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * One counter per value of one tag, registered when its value first comes: a status or a verdict that never
 * happens adds no series at zero.
 */
final class TaggedCounters {

    private final MeterRegistry registry;
    private final String name;
    private final String description;
    private final String tag;
    private final ConcurrentMap<String, Counter> counters = new ConcurrentHashMap<>();

    TaggedCounters(MeterRegistry registry, String name, String description, String tag) {
        this.registry = registry;
        this.name = name;
        this.description = description;
        this.tag = tag;
    }

    void increment(String value) {
        counters.computeIfAbsent(value, v -> Counter.builder(name).description(description).tag(tag, v)
                .register(registry)).increment();
    }
}
