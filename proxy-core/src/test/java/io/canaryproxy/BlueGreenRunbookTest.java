package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The deploy an operator runs many times a day, with real parts: blue is gunicorn on a Unix socket, green is
 * gunicorn on a TCP port, both serving the Django test app with gthread workers, and 20 keep-alive clients load
 * the proxy throughout (16 GET, 4 POSTing 64 KiB bodies whose echo is checked byte for byte).
 */
class BlueGreenRunbookTest {

    @TempDir
    Path sockets;

    private Gunicorn blue;
    private Gunicorn green;
    private CanaryProxy proxy;

    @BeforeEach
    void startBlueGreenAndProxy() {
        blue = Gunicorn.unixSocket("blue", sockets).start();
        green = Gunicorn.tcp("green").start();
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check { interval = 300ms, timeout = 250ms, rise = 2, fall = 2 }
                  upstream.connect-timeout = 20s
                }
                """.formatted(blue.endpoint(), green.endpoint())));
    }

    @AfterEach
    void stopEverything() {
        if (proxy != null) {
            proxy.close();
        }
        blue.close();
        green.close();
    }

    private InetSocketAddress proxyAddress() {
        return proxy.listenAddress();
    }

    @Test
    void switchBlueToGreenUnderLoadLosesNoRequest() {
        try (LoadGenerator load = LoadGenerator.builder(proxyAddress()).getClients(16).postClients(4)
                .chunkedPostClients(2).start()) {
            load.awaitMoreSuccesses(500, Duration.ofSeconds(30));

            proxy.switchTo("green", false);
            long switchedAt = System.nanoTime();
            load.awaitMoreSuccesses(500, Duration.ofSeconds(30));

            ProxyStatus.Release drained = proxy.awaitDrained("blue", Duration.ofSeconds(30)).join();
            assertThat(drained.drained()).as("blue drained: %s", drained).isTrue();
            blue.stop();
            load.awaitMoreSuccesses(500, Duration.ofSeconds(30));

            LoadGenerator.Stats stats = load.stop();
            assertThat(stats.failures()).as("failed requests: %s", stats.failureSamples()).isZero();
            assertThat(stats.postSuccesses()).isPositive();
            assertThat(stats.countsByRelease()).containsKeys("blue", "green");
            assertThat(load.lastRequestAnsweredBy("blue").orElse(0))
                    .as("no request sent after the switch was answered by blue")
                    .isLessThan(switchedAt);
        }
    }

    @Test
    void threeGunicornReloadsUnderLoadLoseNoRequest() {
        try (LoadGenerator load = LoadGenerator.builder(proxyAddress()).getClients(16).postClients(4)
                .chunkedPostClients(2).start()) {
            load.awaitMoreSuccesses(300, Duration.ofSeconds(30));
            for (int i = 0; i < 3; i++) {
                blue.hup();
                blue.awaitWorkersReplaced(Duration.ofSeconds(30));
                load.awaitMoreSuccesses(300, Duration.ofSeconds(30));
            }
            LoadGenerator.Stats stats = load.stop();
            assertThat(stats.failures()).as("failed requests: %s", stats.failureSamples()).isZero();
            assertThat(stats.postSuccesses()).isPositive();
        }
    }

    @Test
    void aKilledGunicornGetsFastErrorsAndServesAgainOnceBack() throws Exception {
        try (RawHttpClient client = new RawHttpClient(proxyAddress())) {
            assertThat(client.get("/").status()).isEqualTo(200);

            blue.kill9();
            // The socket file stays behind with nobody listening: every connect is refused at once, so the
            // answer does not wait for the 20 s connect timeout, and the proxy stays up.
            for (int i = 0; i < 10; i++) {
                long start = System.nanoTime();
                int status = client.get("/").status();
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertThat(status).isEqualTo(502);
                assertThat(millis).as("answer time, well under the connect timeout").isLessThan(10_000);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !proxy.status().releases().get("blue")
                    .endpoints().get(0).healthy());
            assertThat(client.get("/").status()).as("blue's only endpoint, unhealthy, is still tried").isEqualTo(502);

            blue.start();
            // No wait for a health check: the first request after gunicorn is back is served.
            RawHttpClient.Response back = client.get("/");
            assertThat(back.status()).isEqualTo(200);
            assertThat(back.bodyText()).isEqualTo("release=blue\n");
        }
    }
}
