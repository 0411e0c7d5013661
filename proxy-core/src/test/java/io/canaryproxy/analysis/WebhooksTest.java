package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** A webhook that cannot be reached says why, in the log and in a refused start, without its URL's secret. */
class WebhooksTest {

    private final ExecutorService executor = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        executor.shutdownNow();
    }

    @Test
    void aRefusedConnectionIsNamedWithHostAndPort() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        Webhooks hooks = new Webhooks(List.of(hook("deploy-gate", "http://127.0.0.1:" + port + "/T0KEN/hook")), executor);

        assertThat(hooks.preRollout("green"))
                .isEqualTo("deploy-gate failed: cannot connect to 127.0.0.1:" + port);
    }

    @Test
    void anUpstreamThatNeverAnswersIsATimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0)) {
            Webhooks hooks = new Webhooks(List.of(hook("deploy-gate", "http://127.0.0.1:" + silent.getLocalPort() + "/")),
                    executor);

            assertThat(hooks.preRollout("green")).isEqualTo("deploy-gate failed: no answer within 300 ms");
        }
    }

    @Test
    void anAsynchronousEventsFailureIsLoggedWithItsReason() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Logger logger = (Logger) LoggerFactory.getLogger(Webhooks.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try {
            Webhooks hooks = new Webhooks(List.of(hook("chat", "http://127.0.0.1:" + port + "/T0KEN")), executor);

            hooks.send("rollback", "green", 2, 10, null);

            await().atMost(Duration.ofSeconds(10)).until(() -> !messages(logged).isEmpty());
            assertThat(messages(logged)).containsExactly(
                    "webhook chat (rollback) failed: cannot connect to 127.0.0.1:" + port);
        } finally {
            logger.detachAppender(logged);
        }
    }

    private static AnalysisConfig.Webhook hook(String name, String url) {
        return new AnalysisConfig.Webhook(name, URI.create(url), List.of(), Duration.ofMillis(300));
    }

    private static List<String> messages(ListAppender<ILoggingEvent> appender) {
        synchronized (appender.list) {
            return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        }
    }
}
