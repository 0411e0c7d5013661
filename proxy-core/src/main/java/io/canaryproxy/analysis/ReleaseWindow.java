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

    /** Requests without a latency; the others are the histogram's count. */
    private final LongAdder untimed = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final Recorder latency = new Recorder(1, MAX_MICROS, 3);
    private Histogram recycled;

    /** A response that ended, with its status (5xx counts as an error) and the exchange's duration. */
    public void record(int status, long nanos) {
        latency.recordValue(Math.max(1, Math.min(MAX_MICROS, nanos / 1000)));
        if (status >= 500) {
            errors.increment();
        }
    }

    /**
     * A response its client left before the end: a request, and an error if its status is, but no latency, since
     * how long it lasted was the client's choice.
     */
    public void recordUntimed(int status) {
        untimed.increment();
        if (status >= 500) {
            errors.increment();
        }
    }

    /** A response that broke after it began (reset, malformed body): an error the status does not show. */
    public void broken() {
        errors.increment();
    }

    /**
     * Everything recorded since the last call, and a fresh window from now on. Timed requests are counted by the
     * histogram itself: a separate counter, read a moment before or after the histogram is swapped, could miss a
     * request whose latency is in it, and a window with more latencies than requests is not one the judge, or the
     * analysis file, can take.
     */
    public synchronized Sample take(String release) {
        Histogram h = latency.getIntervalHistogram(recycled);
        recycled = null;
        long r = h.getTotalCount() + untimed.sumThenReset();
        long e = errors.sumThenReset();
        if (e > r) {
            // Errors counted while their requests' latencies went to the next window: they belong there too.
            errors.add(e - r);
            e = r;
        }
        return new Sample(release, r, e, h);
    }

    /** Drops what was recorded so far: a new window starts now. */
    public synchronized void reset() {
        untimed.reset();
        errors.reset();
        recycled = latency.getIntervalHistogram(recycled);
    }
}
