package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What a window hands the judge. */
class ReleaseWindowTest {

    /**
     * A response its client left counts as a request, and a 5xx one as an error, but adds no latency: the judge's
     * error rate sees it, its quantiles do not take an event stream's hour for the release's speed.
     */
    @Test
    void aResponseItsClientLeftCountsWithoutLatency() {
        ReleaseWindow window = new ReleaseWindow();
        window.record(200, TimeUnit.MILLISECONDS.toNanos(5));
        window.recordUntimed(200);
        window.recordUntimed(503);

        Sample taken = window.take("blue");

        assertThat(taken.requests()).isEqualTo(3);
        assertThat(taken.errors()).isEqualTo(1);
        assertThat(taken.latencyMicros().getTotalCount()).isEqualTo(1);
        assertThat(taken.latencyMicros().getMaxValue()).isLessThan(6_000);
    }
}
