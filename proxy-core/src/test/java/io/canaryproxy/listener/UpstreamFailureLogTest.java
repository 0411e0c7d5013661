package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import io.canaryproxy.testing.Captured;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class UpstreamFailureLogTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Captured logged = Captured.from(UpstreamFailureLog.class);
    /** What the log asked to run a second later; run by hand. */
    private final List<Runnable> later = new ArrayList<>();

    @AfterEach
    void release() {
        logged.close();
    }

    private static HttpRequest get(String target) {
        return new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, target);
    }

    @Test
    void aLineSaysWhatFailedForWhomAndWhy() {
        new UpstreamFailureLog(0, later::add).failed(504, get("/orders/7"), "203.0.113.9", "green",
                "no answer from unix:/run/green.sock within 30000 ms", 0);

        assertThat(logged.levels()).containsExactly(Level.WARN);
        assertThat(logged.messages()).containsExactly("504 GET /orders/7 from 203.0.113.9 (release green): "
                + "no answer from unix:/run/green.sock within 30000 ms");
    }

    @Test
    void aRequestSentOnToAnotherEndpointIsNamed() {
        new UpstreamFailureLog(0, later::add).sentOn(get("/report?id=7"), "203.0.113.9", "green",
                "upstream unix:/run/a.sock closed without a response: connection closed; sent to unix:/run/b.sock");

        assertThat(logged.levels()).containsExactly(Level.WARN);
        assertThat(logged.messages()).containsExactly("retried GET /report?… from 203.0.113.9 (release green): "
                + "upstream unix:/run/a.sock closed without a response: connection closed; sent to unix:/run/b.sock");
    }

    @Test
    void anOutageWritesAtMostTwentyLinesASecondAndTheNextLineCountsTheRest() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        for (int i = 0; i < 500; i++) {
            failures.failed(502, null, "10.0.0.1", "green", "connect failed", i * MS); // 500 in half a second
        }
        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND);

        failures.failed(502, null, "10.0.0.1", "green", "connect failed", 1000 * MS);

        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND + 1);
        assertThat(logged.messages().get(UpstreamFailureLog.PER_SECOND)).matches(
                "502 - from 10\\.0\\.0\\.1 \\(release green\\): connect failed"
                        + " \\(480 more upstream failures since \\d\\d:\\d\\d:\\d\\d not logged\\)");
    }

    /** An outage that ends leaves no failure to carry the count of those left out: a line of its own does. */
    @Test
    void theFailuresLeftOutAtTheEndOfAnOutageAreCountedALittleLater() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        for (int i = 0; i < 30; i++) {
            failures.failed(503, null, "10.0.0.1", "green", "every endpoint is ejected", i * MS);
        }
        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND);
        assertThat(later).hasSize(1);

        later.remove(0).run(); // failures came in the second since the 21st: the outage may go on
        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND);
        later.remove(0).run(); // a second without any

        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND + 1);
        assertThat(logged.messages().get(UpstreamFailureLog.PER_SECOND))
                .matches("10 more upstream failures since \\d\\d:\\d\\d:\\d\\d not logged");
        assertThat(later).isEmpty();
    }

    /** A stop does not wait a second for the count: the requests it cut beyond the twentieth are counted. */
    @Test
    void aStopWritesTheCountAtOnce() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        for (int i = 0; i < 24; i++) {
            failures.failed(502, null, "10.0.0.1", "green", "cut by the stop", i * MS);
        }

        failures.flush();

        assertThat(logged.messages()).hasSize(UpstreamFailureLog.PER_SECOND + 1);
        assertThat(logged.messages().get(UpstreamFailureLog.PER_SECOND))
                .matches("4 more upstream failures since \\d\\d:\\d\\d:\\d\\d not logged");
        later.remove(0).run();
        assertThat(logged.messages()).as("nothing left to count").hasSize(UpstreamFailureLog.PER_SECOND + 1);
        assertThat(later).isEmpty();
    }

    /**
     * While an outage goes on, its own lines carry the counts; a count line among them would make twenty-one in a
     * second. Its end is counted once.
     */
    @Test
    void aLongOutageWritesTwentyLinesASecondAndItsEndIsCountedOnce() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        for (int second = 0; second < 3; second++) {
            for (int i = 0; i < 500; i++) {
                failures.failed(502, null, "10.0.0.1", "green", "connect failed", (second * 1000 + i * 2) * MS);
                if (i == 250) {
                    // The scheduler runs what was due in the middle of the second.
                    new ArrayList<>(later).forEach(task -> {
                        later.remove(task);
                        task.run();
                    });
                }
            }
        }
        assertThat(logged.messages()).hasSize(3 * UpstreamFailureLog.PER_SECOND);

        while (!later.isEmpty()) {
            later.remove(0).run();
        }

        assertThat(logged.messages()).hasSize(3 * UpstreamFailureLog.PER_SECOND + 1);
        assertThat(logged.messages()).last(InstanceOfAssertFactories.STRING)
                .matches("480 more upstream failures since \\d\\d:\\d\\d:\\d\\d not logged");
    }

    /** A line that carried the count leaves nothing for the scheduled one to say. */
    @Test
    void aCountCarriedByALaterLineIsNotWrittenTwice() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        for (int i = 0; i < 30; i++) {
            failures.failed(503, null, "10.0.0.1", "green", "every endpoint is ejected", i * MS);
        }
        failures.failed(503, null, "10.0.0.1", "green", "every endpoint is ejected", 1000 * MS);
        int written = logged.messages().size();

        later.forEach(Runnable::run);

        assertThat(logged.messages()).hasSize(written);
    }

    /** On the minute, the time still has its seconds, so that the line reads alike every time. */
    @Test
    void theTimeSinceWhenAlwaysHasItsSeconds() {
        assertThat(UpstreamFailureLog.CLOCK_TIME.withZone(ZoneOffset.UTC).format(Instant.parse("2026-12-01T07:34:00Z")))
                .isEqualTo("07:34:00");
    }

    @Test
    void theQueryIsLeftOutAndALongPathCut() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        failures.failed(502, get("/reset?token=s3cret"), "10.0.0.1", "blue", "connect failed", 0);
        failures.failed(502, get("/a/" + "x".repeat(5000) + "?q=1"), "10.0.0.1", "blue", "connect failed", 0);

        assertThat(logged.messages().get(0)).startsWith("502 GET /reset?… from").doesNotContain("s3cret");
        assertThat(logged.messages().get(1)).startsWith("502 GET /a/xxx").contains("x…?… from").hasSizeLessThan(300);
    }

    /** Raw bytes from 0x80 in a target are written as the escapes the application sees, never raw. */
    @Test
    void rawBytesInThePathAreEscaped() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0, later::add);
        failures.failed(502, get("/caf\u00c3\u00a9/\u009b31m"), "10.0.0.1", "blue", "connect failed", 0);

        assertThat(logged.messages().get(0)).startsWith("502 GET /caf%C3%A9/%9B31m from");
    }
}
