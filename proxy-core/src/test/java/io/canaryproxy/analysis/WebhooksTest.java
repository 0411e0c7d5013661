package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.Ports;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A webhook that cannot be reached says why, in the log and in a refused start, without its URL's secret. */
class WebhooksTest {

    private final ExecutorService executor = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        executor.shutdownNow();
    }

    @Test
    void aRefusedConnectionIsNamedWithHostAndPort() throws Exception {
        int port = Ports.unused();
        Webhooks hooks = new Webhooks(List.of(hook("deploy-gate", "http://127.0.0.1:" + port + "/T0KEN/hook")), executor);

        assertThat(hooks.preRollout("green"))
                .isEqualTo("deploy-gate failed: cannot connect to 127.0.0.1:" + port);
    }

    /** A plain HTTP/1.1 POST: no offer to switch to HTTP/2, which a small receiver does not expect. */
    @Test
    void aHookIsAPlainHttp11Post() throws Exception {
        try (ServerSocket receiver = new ServerSocket(0)) {
            Webhooks hooks = new Webhooks(List.of(hook("deploy-gate", "http://127.0.0.1:" + receiver.getLocalPort()
                    + "/gate")), executor);
            java.util.concurrent.Future<String> gate = executor.submit(() -> hooks.preRollout("green"));
            String head;
            try (java.net.Socket s = receiver.accept()) {
                head = HttpHeads.read(s.getInputStream());
                s.getOutputStream().write("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }

            assertThat(head).startsWith("POST /gate HTTP/1.1\r\n");
            assertThat(head.toLowerCase(java.util.Locale.ROOT)).doesNotContain("upgrade").doesNotContain("http2");
            assertThat(gate.get(10, java.util.concurrent.TimeUnit.SECONDS)).isNull();
        }
    }

    @Test
    void anUpstreamThatNeverAnswersIsATimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0)) {
            Webhooks hooks = new Webhooks(List.of(hook("deploy-gate", "http://127.0.0.1:" + silent.getLocalPort() + "/",
                    Duration.ofMillis(300))), executor);

            assertThat(hooks.preRollout("green")).isEqualTo("deploy-gate failed: no answer within 300 ms");
        }
    }

    @Test
    void anAsynchronousEventsFailureIsLoggedWithItsReason() throws Exception {
        int port = Ports.unused();
        try (Captured logged = Captured.from(Webhooks.class)) {
            Webhooks hooks = new Webhooks(List.of(hook("chat", "http://127.0.0.1:" + port + "/T0KEN")), executor);

            hooks.send("rollback", "green", 2, 10, null);

            await().atMost(Duration.ofSeconds(10)).until(() -> !logged.messages().isEmpty());
            assertThat(logged.messages()).containsExactly(
                    "webhook chat (rollback) failed: cannot connect to 127.0.0.1:" + port);
        }
    }

    /** The shapes the JDK's client gives, synchronous and not, for a host that does not resolve or route. */
    @Test
    void theReasonIsFoundWhereverTheClientWrappedIt() {
        AnalysisConfig.Webhook hook = hook("chat", "https://hooks.example.com/T0KEN");
        Throwable unresolved = new ConnectException().initCause(new UnresolvedAddressException());
        Throwable noRoute = new ConnectException().initCause(new ConnectException("No route to host"));

        assertThat(Webhooks.describe(new CompletionException(unresolved), hook))
                .isEqualTo("cannot resolve the host hooks.example.com");
        assertThat(Webhooks.describe(new ConnectException().initCause(unresolved), hook))
                .isEqualTo("cannot resolve the host hooks.example.com");
        assertThat(Webhooks.describe(new ConnectException().initCause(noRoute), hook))
                .isEqualTo("cannot connect to hooks.example.com:443 (No route to host)");
    }

    /** Time enough for a refused connect on a busy machine, where the client's first call is slow. */
    private static AnalysisConfig.Webhook hook(String name, String url) {
        return hook(name, url, Duration.ofSeconds(5));
    }

    private static AnalysisConfig.Webhook hook(String name, String url, Duration timeout) {
        return new AnalysisConfig.Webhook(name, URI.create(url), List.of(), timeout);
    }
}
