package io.canaryproxy.analysis;

import org.HdrHistogram.Histogram;

/** What one release did in one window: requests, errors (5xx, resets, timeouts) and latencies in microseconds. */
public record Sample(String release, long requests, long errors, Histogram latencyMicros) {

    /** A histogram configured like the ones {@link ReleaseWindow} records: 1 µs to 1 h, 3 significant digits. */
    public static Histogram newHistogram() {
        return new Histogram(1, 3_600_000_000L, 3);
    }
}
