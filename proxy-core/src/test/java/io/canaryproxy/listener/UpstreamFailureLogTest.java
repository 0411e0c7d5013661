package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class UpstreamFailureLogTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Logger logger = (Logger) LoggerFactory.getLogger(UpstreamFailureLog.class);
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();

    @BeforeEach
    void capture() {
        logged.start();
        logger.addAppender(logged);
    }

    @AfterEach
    void release() {
        logger.detachAppender(logged);
    }

    @Test
    void aLineSaysWhatFailedForWhomAndWhy() {
        new UpstreamFailureLog(0).failed(504, new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/orders/7"),
                "203.0.113.9", "green", "no answer from unix:/run/green.sock within 30000 ms", 0);

        assertThat(logged.list).singleElement().satisfies(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).isEqualTo("504 GET /orders/7 from 203.0.113.9 (release green): "
                    + "no answer from unix:/run/green.sock within 30000 ms");
        });
    }

    @Test
    void anOutageWritesAtMostTwentyLinesASecondAndTheNextLineCountsTheRest() {
        UpstreamFailureLog failures = new UpstreamFailureLog(0);
        for (int i = 0; i < 500; i++) {
            failures.failed(502, null, "10.0.0.1", "green", "connect failed", i * MS); // 500 in half a second
        }
        assertThat(logged.list).hasSize(UpstreamFailureLog.PER_SECOND);

        failures.failed(502, null, "10.0.0.1", "green", "connect failed", 1000 * MS);

        List<String> lines = logged.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertThat(lines).hasSize(UpstreamFailureLog.PER_SECOND + 1);
        assertThat(lines.get(UpstreamFailureLog.PER_SECOND))
                .isEqualTo("502 - from 10.0.0.1 (release green): connect failed (480 more upstream failures not logged)");
    }

    @Test
    void aLongTargetIsCut() {
        String target = "/search?q=" + "x".repeat(5000);
        new UpstreamFailureLog(0).failed(502, new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, target),
                "10.0.0.1", "blue", "connect failed", 0);

        assertThat(logged.list.get(0).getFormattedMessage()).startsWith("502 GET /search?q=xxx").hasSizeLessThan(300);
    }
}
