package io.canaryproxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.TestConfigs;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code upstream.max-connections} caps the connections to an endpoint; requests beyond it wait their turn for up to
 * {@code connect-timeout} instead of failing at once.
 */
class PoolLimitTest {

    private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    private final CountDownLatch gate = new CountDownLatch(1);
    private final ExecutorService clients = Executors.newCachedThreadPool();
    private ScriptedBackend backend;
    private CanaryProxy proxy;

    @BeforeEach
    void startBackend() throws Exception {
        backend = new ScriptedBackend();
        // Every answer stops after its first byte until the test opens the gate, so connections stay busy.
        backend.on("/held", Reply.of(OK).holdAt(1, gate));
    }

    @AfterEach
    void stop() throws Exception {
        gate.countDown();
        clients.shutdownNow();
        if (proxy != null) {
            proxy.close();
        }
        backend.close();
    }

    private void startProxy(int maxConnections, String connectTimeout) {
        startProxy(maxConnections, connectTimeout, 64);
    }

    private void startProxy(int maxConnections, String connectTimeout, int maxIdle) {
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  threads = 1
                  releases.blue.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                  upstream { max-connections = %d, connect-timeout = %s, pool-idle-timeout = 60s
                             max-idle-connections = %d }
                }
                """.formatted(backend.endpoint(), maxConnections, connectTimeout, maxIdle)));
    }

    private Future<RawHttpClient.Response> get(String path) {
        return clients.submit(() -> {
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())
                    .readTimeout(Duration.ofSeconds(20))) {
                return client.get(path);
            }
        });
    }

    private long inflight() {
        return proxy.status().releases().get("blue").inflight();
    }

    @Test
    void aBurstBeyondTheLimitWaitsForConnectionsAndIsAllAnswered() throws Exception {
        startProxy(2, "10s");

        List<Future<RawHttpClient.Response>> responses = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            responses.add(get("/held"));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> inflight() == 6 && backend.requests() == 2);
        assertThat(backend.connections()).as("connections opened to the endpoint").isEqualTo(2);

        gate.countDown();
        for (Future<RawHttpClient.Response> r : responses) {
            assertThat(r.get().status()).isEqualTo(200);
        }
        assertThat(backend.requests()).isEqualTo(6);
        assertThat(backend.connections()).as("the waiting requests reused the two connections").isEqualTo(2);
    }

    @Test
    void aRequestThatWaitsLongerThanTheConnectTimeoutGets503() throws Exception {
        startProxy(1, "300ms");

        Future<RawHttpClient.Response> first = get("/held");
        await().atMost(Duration.ofSeconds(10)).until(() -> backend.requests() == 1);
        RawHttpClient.Response second = get("/held").get();

        assertThat(second.status()).isEqualTo(503);
        assertThat(backend.requests()).as("the refused request never reached the endpoint").isEqualTo(1);
        gate.countDown();
        assertThat(first.get().status()).isEqualTo(200);
    }

    @Test
    void aWaiterWhoseClientLeftIsSkipped() throws Exception {
        startProxy(1, "10s");

        Future<RawHttpClient.Response> first = get("/held");
        await().atMost(Duration.ofSeconds(10)).until(() -> backend.requests() == 1);
        InetSocketAddress address = proxy.listenAddress();
        try (Socket leaving = new Socket(address.getAddress(), address.getPort())) {
            OutputStream out = leaving.getOutputStream();
            out.write("GET /held HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            await().atMost(Duration.ofSeconds(10)).until(() -> inflight() == 2);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> inflight() == 1);
        Future<RawHttpClient.Response> third = get("/held");
        await().atMost(Duration.ofSeconds(10)).until(() -> inflight() == 2);

        gate.countDown();
        assertThat(first.get().status()).isEqualTo(200);
        assertThat(third.get().status()).isEqualTo(200);
        assertThat(backend.requests()).as("the request of the client that left was never sent").isEqualTo(2);
    }

    /** Five requests at once need five connections; once answered, only max-idle-connections of them stay. */
    @Test
    void connectionsGivenBackBeyondTheIdleLimitAreClosed() throws Exception {
        startProxy(10, "10s", 2);
        List<Future<RawHttpClient.Response>> held = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            held.add(get("/held"));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> inflight() == 5 && backend.connections() == 5);
        gate.countDown();
        for (Future<RawHttpClient.Response> r : held) {
            assertThat(r.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> proxy.status().releases().get("blue").connections() == 2);
    }

    @Test
    void aPostAtTheLimitGetsAFreshConnectionInPlaceOfAnIdleOne() throws Exception {
        backend.on("/quick", OK);
        startProxy(1, "10s");

        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/quick").status()).isEqualTo(200);
            // A POST never rides a kept-alive connection; the idle one must make room for a new one.
            assertThat(client.post("/quick", "x".getBytes(StandardCharsets.US_ASCII)).status()).isEqualTo(200);
        }
        assertThat(backend.connections()).isEqualTo(2);
    }
}
