package io.canaryproxy.metrics;

import io.micrometer.core.instrument.MeterRegistry;

/**
 * The automated analysis's decisions as counters: every check by its verdict, and every run by how it ended. The
 * state and step gauges say where a run is now; these keep a rollback countable after the next run has begun,
 * and after the history in {@code /status} has moved past it.
 */
public final class AnalysisMetrics {

    private final TaggedCounters checks;
    private final TaggedCounters outcomes;

    public AnalysisMetrics(MeterRegistry registry) {
        checks = new TaggedCounters(registry, "canary.proxy.analysis.checks",
                "Checks of the automated analysis, by verdict", "verdict");
        outcomes = new TaggedCounters(registry, "canary.proxy.analysis.outcomes",
                "Runs of the automated analysis, by how they ended or paused", "outcome");
    }

    /** One check judged, with {@code verdict} {@code pass}, {@code hold} or {@code fail}. */
    public void checked(String verdict) {
        checks.increment(verdict);
    }

    /**
     * A run that ended ({@code promoted}, {@code rolled-back}, {@code ended} by an operator's change) or was paused
     * by its own failures ({@code paused}).
     */
    public void outcome(String outcome) {
        outcomes.increment(outcome);
    }
}
