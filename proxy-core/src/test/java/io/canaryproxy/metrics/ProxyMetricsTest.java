package io.canaryproxy.metrics;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.http.Fault;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What the proxy records matches what was sent through it. */
class ProxyMetricsTest {

    @Test
    void requestsErrorsRetriesAndGaugesAreCounted() throws Exception {
        WireMockServer upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        upstream.stubFor(get(urlEqualTo("/ok")).willReturn(aResponse().withStatus(200).withBody("ok")));
        upstream.stubFor(get(urlEqualTo("/missing")).willReturn(aResponse().withStatus(404)));
        upstream.stubFor(get(urlEqualTo("/reset")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(),
                "proxy.upstream.pool-idle-timeout = 30s"), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 7; i++) {
                assertThat(client.get("/ok").status()).isEqualTo(200);
            }
            assertThat(client.get("/missing").status()).isEqualTo(404);
            assertThat(client.get("/reset").status()).isEqualTo(502);

            assertThat(count(registry, "canary.proxy.requests", "status", "2xx")).isEqualTo(7);
            assertThat(count(registry, "canary.proxy.requests", "status", "4xx")).isEqualTo(1);
            assertThat(count(registry, "canary.proxy.requests", "status", "5xx")).isEqualTo(1);
            assertThat(errors(registry, "reset")).isEqualTo(1);
            // /reset went first on the kept-alive connection /missing left, and again on a new one: one retry.
            assertThat(registry.get("canary.proxy.retries").tag("release", "blue").counter().count()).isEqualTo(1);
            assertThat(registry.get("canary.proxy.upstream.latency").tag("release", "blue").timer().count())
                    .isEqualTo(9);
            assertThat(registry.get("canary.proxy.inflight.requests").tag("release", "blue").gauge().value())
                    .isZero();
            assertThat(registry.get("canary.proxy.endpoint.healthy").tag("release", "blue").gauge().value())
                    .isEqualTo(1);
            assertThat(registry.get("canary.proxy.canary.weight.percent").gauge().value()).isZero();
        } finally {
            upstream.stop();
        }
    }

    /**
     * A failure a retry made good is still a failure of its endpoint: a worker that crashes on every request, or a
     * gunicorn that is down, shows in the errors though every client got its answer from the other endpoint.
     */
    @Test
    void failuresThatARetryMadeGoodAreCountedToo() throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        try (ScriptedBackend crashing = new ScriptedBackend().otherwise(ScriptedBackend.Reply.of("").thenClose());
             ScriptedBackend healthy = new ScriptedBackend().otherwise(ScriptedBackend.Reply.of(ok));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["%s", "%s", "127.0.0.1:%d"]
                       routing.stable = blue
                       health-check.interval = 0
                     }
                     """.formatted(crashing.endpoint(), healthy.endpoint(), Ports.unused())), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 12; i++) {
                assertThat(client.get("/").status()).isEqualTo(200);
            }

            assertThat(crashing.requests()).isPositive();
            assertThat(errors(registry, "reset")).isEqualTo(crashing.requests());
            assertThat(errors(registry, "connect")).isPositive();
            assertThat(registry.get("canary.proxy.retries").tag("release", "blue").counter().count())
                    .isEqualTo(errors(registry, "reset") + errors(registry, "connect"));
        }
    }

    /** A request the proxy refuses itself reaches no release, but an operator should see such clients. */
    @Test
    void requestsRefusedBeforeRoutingAreCountedByStatus() throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), ""), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response twoHosts = client.sendRaw(
                    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(twoHosts.status()).isEqualTo(400);

            await().atMost(Duration.ofSeconds(5)).until(() -> registry.find("canary.proxy.client.rejected")
                    .tag("status", "400").counter() != null);
            assertThat(registry.get("canary.proxy.client.rejected").tag("status", "400").counter().count())
                    .isEqualTo(1);
            for (String[] refused : new String[][] {
                    {"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", "501"},
                    {"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", "501"},
                    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"}}) {
                try (RawHttpClient another = new RawHttpClient(proxy.listenAddress())) {
                    assertThat(another.sendRaw(refused[0].getBytes(StandardCharsets.US_ASCII)).status())
                            .isEqualTo(Integer.parseInt(refused[1]));
                }
                await().atMost(Duration.ofSeconds(5)).until(() -> registry.find("canary.proxy.client.rejected")
                        .tag("status", refused[1]).counter() != null);
            }
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(registry
                    .get("canary.proxy.client.rejected").tag("status", "501").counter().count()).isEqualTo(2));
            assertThat(registry.find("canary.proxy.requests").counters()).allSatisfy(c ->
                    assertThat(c.count()).isZero());
            assertThat(backend.requests()).isZero();
        }
    }

    /**
     * A client that gives up in the middle of a head (a cancelled page load, a scanner) was refused nothing; one the
     * header timeout cuts off was, as nginx logs a 408 for it.
     */
    @Test
    void aClientThatClosesMidHeadIsNotCountedButOneTheHeaderTimeoutCutsOffIs() throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                     proxy.threads = 1
                     proxy.limits.header-read-timeout = 300ms
                     """), registry)) {
            byte[] halfAHead = "GET / HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < 3; i++) {
                try (java.net.Socket gaveUp = new java.net.Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                    gaveUp.getOutputStream().write(halfAHead);
                }
            }
            try (java.net.Socket slow = new java.net.Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                slow.getOutputStream().write(halfAHead);
                slow.setSoTimeout(5000);
                assertThat(slow.getInputStream().read()).as("closed by the header timeout").isEqualTo(-1);
            }
            // A request refused on the same event loop, after those: its count shows theirs would have come first.
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                assertThat(client.sendRaw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII)).status()).isEqualTo(400);
            }

            await().atMost(Duration.ofSeconds(5)).until(() -> registry.find("canary.proxy.client.rejected")
                    .tag("status", "400").counter() != null);
            assertThat(registry.get("canary.proxy.client.rejected").tag("status", "400").counter().count())
                    .isEqualTo(1);
            assertThat(registry.get("canary.proxy.client.rejected").tag("status", "408").counter().count())
                    .isEqualTo(1);
            assertThat(backend.requests()).isZero();
        }
    }

    /** As /status and /drain count them: a gauge that forgot the old endpoint would say "nothing open" too early. */
    @Test
    void aReleasesGaugesCountTheGenerationAReloadLeftDraining() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend before = new ScriptedBackend()
                     .on("/held", ScriptedBackend.Reply.of(ok).holdAt(ok.length() - 1, release));
             ScriptedBackend after = new ScriptedBackend().otherwise(ScriptedBackend.Reply.of(ok));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(before.endpoint(), ""), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            CompletableFuture<Integer> held = statusLater(client, "/held");
            await().atMost(Duration.ofSeconds(5)).until(() -> before.requests() == 1);

            proxy.reload(TestConfigs.single(after.endpoint(), ""));

            assertThat(registry.get("canary.proxy.inflight.requests").tag("release", "blue").gauge().value())
                    .isEqualTo(1);
            assertThat(registry.get("canary.proxy.upstream.connections").tag("release", "blue").gauge().value())
                    .isEqualTo(1);
            release.countDown();
            assertThat(held.get(10, TimeUnit.SECONDS)).isEqualTo(200);
            await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("canary.proxy.inflight.requests")
                    .tag("release", "blue").gauge().value() == 0);
        }
    }

    /** A response that breaks after its head counts as the upstream error that broke it, not always as a reset. */
    @Test
    void aResponseBrokenAfterItsHeadCountsAsTheErrorThatBrokeIt() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        String stalled = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend()
                     .on("/badchunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n\r\n")
                     .on("/stall", ScriptedBackend.Reply.of(stalled + "x".repeat(90)).holdAt(stalled.length(), never));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(),
                     "proxy.upstream.response-timeout = 1s"), registry)) {
            for (String path : new String[] {"/badchunk", "/stall"}) {
                try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                    client.get(path);
                } catch (Exception e) {
                    // the client sees the connection close in the middle of the body
                }
            }
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(errors(registry, "malformed")).isEqualTo(1);
                assertThat(errors(registry, "timeout")).isEqualTo(1);
            });
            assertThat(errors(registry, "reset")).isZero();
        } finally {
            never.countDown();
        }
    }

    /** A request that waits in vain for a connection of a busy endpoint is no request to a missing endpoint. */
    @Test
    void aRequestThatFindsThePoolFullCountsAsPoolFull() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend()
                     .on("/busy", ScriptedBackend.Reply.of(ok).holdAt(ok.length() - 1, release));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                     proxy.threads = 1
                     proxy.upstream { max-connections = 1, connect-timeout = 300ms }
                     """), registry);
             RawHttpClient first = new RawHttpClient(proxy.listenAddress());
             RawHttpClient second = new RawHttpClient(proxy.listenAddress())) {
            CompletableFuture<Integer> held = statusLater(first, "/busy");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.requests() == 1);
            assertThat(second.get("/busy").status()).isEqualTo(503);
            release.countDown();
            assertThat(held.get(10, TimeUnit.SECONDS)).isEqualTo(200);
            assertThat(errors(registry, "pool-full")).isEqualTo(1);
            assertThat(errors(registry, "refused-no-endpoint")).isZero();
        } finally {
            release.countDown();
        }
    }

    /**
     * A client that closes before its exchange ended (nginx logs a 499) is counted by where it was; one that was
     * receiving its response counts under that response's status too, as a broken response does.
     */
    @Test
    void aClientThatLeavesIsCountedByWhereItWas() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        String download = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend()
                     .on("/wait", ScriptedBackend.Reply.of(ok).holdAt(1, never))
                     .on("/upload", ScriptedBackend.Reply.of(ok).holdAt(1, never))
                     .on("/download", ScriptedBackend.Reply.of(download + "x".repeat(100))
                             .holdAt(download.length() + 10, never));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), ""), registry)) {
            int port = proxy.listenAddress().getPort();
            try (java.net.Socket waiting = new java.net.Socket("127.0.0.1", port)) {
                waiting.getOutputStream().write(ascii("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
                await().atMost(Duration.ofSeconds(5)).until(() -> backend.received("/wait").size() == 1);
            }
            try (java.net.Socket sending = new java.net.Socket("127.0.0.1", port)) {
                sending.getOutputStream().write(ascii(
                        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789"));
                await().atMost(Duration.ofSeconds(5)).until(() -> backend.received("/upload").size() == 1);
            }
            try (java.net.Socket receiving = new java.net.Socket("127.0.0.1", port)) {
                receiving.getOutputStream().write(ascii("GET /download HTTP/1.1\r\nHost: x\r\n\r\n"));
                receiving.setSoTimeout(5000);
                assertThat(receiving.getInputStream().read()).as("the head's first byte").isEqualTo('H');
            }

            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                assertThat(count(registry, "canary.proxy.client.aborted", "stage", "waiting")).isEqualTo(1);
                assertThat(count(registry, "canary.proxy.client.aborted", "stage", "sending")).isEqualTo(1);
                assertThat(count(registry, "canary.proxy.client.aborted", "stage", "receiving")).isEqualTo(1);
            });
            assertThat(count(registry, "canary.proxy.requests", "status", "2xx")).isEqualTo(1);
            // How long the download lasted was the client's choice: no latency for it.
            assertThat(registry.get("canary.proxy.upstream.latency").tag("release", "blue").timer().count()).isZero();
            assertThat(registry.find("canary.proxy.upstream.errors").counters()).allSatisfy(c ->
                    assertThat(c.count()).isZero());
            assertThat(registry.get("canary.proxy.inflight.requests").tag("release", "blue").gauge().value())
                    .isZero();
        } finally {
            never.countDown();
        }
    }

    /**
     * A stream (chunked, or until the upstream closes) is timed to its head: how long it lasts is the app's choice,
     * an event stream's or a long-poll's, and timed to its end one stream in a hundred requests would be the
     * release's p99. The same whether the upstream ends it or the client leaves it.
     */
    @Test
    void aStreamIsTimedToItsHeadWhoeverEndsIt() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        String event = "7\r\ndata: 1\r\n";
        Duration between = Duration.ofSeconds(2);
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend()
                     .on("/events", ScriptedBackend.Reply.of(head + event + event + "0\r\n\r\n")
                             .splitAt(head.length() + event.length()).pauseBetweenPieces(between));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), ""), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/events").bodyText()).isEqualTo("data: 1data: 1");
            try (java.net.Socket leaving = new java.net.Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                leaving.getOutputStream().write(ascii("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
                leaving.setSoTimeout(5000);
                assertThat(HttpHeads.read(leaving.getInputStream())).startsWith("HTTP/1.1 200 ");
            }

            await().atMost(Duration.ofSeconds(5)).until(() ->
                    count(registry, "canary.proxy.client.aborted", "stage", "receiving") == 1);
            var latency = registry.get("canary.proxy.upstream.latency").tag("release", "blue").timer();
            assertThat(latency.count()).isEqualTo(2);
            assertThat(latency.max(TimeUnit.MILLISECONDS)).as("time to the head, not the %s between events", between)
                    .isLessThan(between.toMillis());
        }
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static double errors(MeterRegistry registry, String kind) {
        return count(registry, "canary.proxy.upstream.errors", "kind", kind);
    }

    private static double count(MeterRegistry registry, String name, String tag, String value) {
        return registry.get(name).tag("release", "blue").tag(tag, value).counter().count();
    }

    /** The status of a GET sent on another thread, for a request the test holds at the backend. */
    private static CompletableFuture<Integer> statusLater(RawHttpClient client, String path) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return client.get(path).status();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
