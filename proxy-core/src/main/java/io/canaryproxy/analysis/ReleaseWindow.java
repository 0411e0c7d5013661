package io.canaryproxy.analysis;

import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * What one release did since the window was last taken, recorded on the hot path without locks: adders for the
 * counts and an HdrHistogram {@link Recorder} (wait-free for writers) for latencies. The judge takes the canary's
 * and the stable release's windows at the same moment, so both are compared over the same time.
 */
public final class ReleaseWindow {

    private static final long MAX_MICROS = 3_600_000_000L;

    private final LongAdder requests = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final Recorder latency = new Recorder(1, MAX_MICROS, 3);
    private Histogram recycled;

    /** A response that ended, with its status (5xx counts as an error) and the exchange's duration. */
    public void record(int status, long nanos) {
        requests.increment();
        if (status >= 500) {
            errors.increment();
        }
        latency.recordValue(Math.max(1, Math.min(MAX_MICROS, nanos / 1000)));
    }

    /**
     * A response its client left before the end: a request, and an error if its status is, but no latency, since
     * how long it lasted was the client's choice.
     */
    public void recordUntimed(int status) {
        requests.increment();
        if (status >= 500) {
            errors.increment();
        }
    }

    /** A response that broke after it began (reset, malformed body): an error the status does not show. */
    public void broken() {
        errors.increment();
    }

    /** Everything recorded since the last call, and a fresh window from now on. */
    public synchronized Sample take(String release) {
        long r = requests.sumThenReset();
        long e = errors.sumThenReset();
        Histogram h = latency.getIntervalHistogram(recycled);
        recycled = null;
        return new Sample(release, r, e, h);
    }

    /** Drops what was recorded so far: a new window starts now. */
    public synchronized void reset() {
        requests.reset();
        errors.reset();
        recycled = latency.getIntervalHistogram(recycled);
    }
}
