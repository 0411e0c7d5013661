package io.canaryproxy.analysis;

import org.HdrHistogram.Histogram;

/** What one release did in one window: requests, errors (5xx, resets, timeouts) and latencies in microseconds. */
public record Sample(String release, long requests, long errors, Histogram latencyMicros) {

    /** {@code later} with what {@code earlier} saw added, for a check that spans several windows. */
    static Sample sum(Sample earlier, Sample later) {
        if (earlier == null) {
            return later;
        }
        Histogram latency = earlier.latencyMicros().copy();
        latency.add(later.latencyMicros());
        return new Sample(later.release(), earlier.requests() + later.requests(), earlier.errors() + later.errors(),
                latency);
    }

    /** A histogram configured like the ones {@link ReleaseWindow} records: 1 µs to 1 h, 3 significant digits. */
    public static Histogram newHistogram() {
        return new Histogram(1, 3_600_000_000L, 3);
    }
}
