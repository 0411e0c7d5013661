package io.canaryproxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The automated analysis's decisions as counters: every check by its verdict, and every run by how it ended. The
 * state and step gauges say where a run is now; these keep a rollback countable after the next run has begun,
 * and after the history in {@code /status} has moved past it.
 */
public final class AnalysisMetrics {

    private final MeterRegistry registry;
    private final ConcurrentMap<String, Counter> checks = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Counter> outcomes = new ConcurrentHashMap<>();

    public AnalysisMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** One check judged, with {@code verdict} {@code pass}, {@code hold} or {@code fail}. */
    public void checked(String verdict) {
        checks.computeIfAbsent(verdict, v -> Counter.builder("canary.proxy.analysis.checks")
                .description("Checks of the automated analysis, by verdict")
                .tag("verdict", v)
                .register(registry)).increment();
    }

    /**
     * A run that ended ({@code promoted}, {@code rolled-back}, {@code ended} by an operator's change) or was paused
     * by its own failures ({@code paused}).
     */
    public void outcome(String outcome) {
        outcomes.computeIfAbsent(outcome, o -> Counter.builder("canary.proxy.analysis.outcomes")
                .description("Runs of the automated analysis, by how they ended or paused")
                .tag("outcome", o)
                .register(registry)).increment();
    }
}
