package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
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

    /**
     * Windows taken while event loops record never hold more latencies, or errors, than requests (the analysis
     * file refuses such a window at the next start), and lose or double nothing: every response is in one window.
     */
    @Test
    void windowsTakenWhileRequestsEndAreWholeAndConsistent() throws Exception {
        ReleaseWindow window = new ReleaseWindow();
        int perWriter = 300_000;
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            Thread t = new Thread(() -> {
                awaitQuietly(go);
                for (int i = 0; i < perWriter; i++) {
                    window.record(i % 10 == 0 ? 502 : 200, 1_000_000);
                }
            });
            writers.add(t);
            t.start();
        }
        // requests, errors and latencies of each window (the histograms themselves are large)
        List<long[]> taken = new ArrayList<>();
        go.countDown();
        while (writers.stream().anyMatch(Thread::isAlive)) {
            taken.add(counts(window.take("blue")));
        }
        for (Thread t : writers) {
            t.join();
        }
        taken.add(counts(window.take("blue")));

        assertThat(taken).allSatisfy(c -> {
            assertThat(c[2]).as("latencies").isLessThanOrEqualTo(c[0]);
            assertThat(c[1]).as("errors").isLessThanOrEqualTo(c[0]);
        });
        assertThat(taken.stream().mapToLong(c -> c[0]).sum()).isEqualTo(2L * perWriter);
        assertThat(taken.stream().mapToLong(c -> c[1]).sum()).isEqualTo(2L * perWriter / 10);
    }

    private static long[] counts(Sample s) {
        return new long[] {s.requests(), s.errors(), s.latencyMicros().getTotalCount()};
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
