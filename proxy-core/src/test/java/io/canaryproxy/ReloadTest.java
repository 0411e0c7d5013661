package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A new configuration applied to a running proxy, without losing a request or a connection. */
class ReloadTest {

    private static final String NO_CHECKS = "proxy.health-check.interval = 0";

    private static ProxyConfig config(String blue, String green, String extra) {
        return TestConfigs.parse("""
                proxy {
                  listen = "127.0.0.1:0"
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = green
                  health-check { interval = 300ms, timeout = 250ms }
                }
                %s
                """.formatted(blue, green, extra));
    }

    @Test
    void movingAReleaseToANewGunicornUnderLoadLosesNothing() throws Exception {
        try (Gunicorn blue = Gunicorn.tcp("blue").start();
             Gunicorn oldGreen = Gunicorn.tcp("green").start();
             Gunicorn newGreen = Gunicorn.tcp("green-v2").start();
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), oldGreen.endpoint(), ""));
             Captured logged = Captured.from(CanaryProxy.class)) {
            // A slow request keeps a connection to the old gunicorn busy across the reload.
            CompletableFuture<RawHttpClient.Response> slow = CompletableFuture.supplyAsync(() -> {
                try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                    return client.get("/slow?ms=6000");
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("green").inflight() == 1);
            try (LoadGenerator load = LoadGenerator.start(proxy.listenAddress(), 8, 2)) {
                // Under load, and while the slow request still holds its connection (it began first).
                load.awaitMoreSuccesses(50, Duration.ofSeconds(30));

                List<String> changes = proxy.reload(config(blue.endpoint(), newGreen.endpoint(), ""));
                long reloadedAt = System.nanoTime();

                assertThat(changes).singleElement().asString().startsWith("release green: endpoints");
                // The old gunicorn stays listed, marked removed, while the proxy has a connection to it.
                assertThat(proxy.status().releases().get("green").endpoints())
                        .filteredOn(ProxyStatus.Endpoint::removed).singleElement().satisfies(old -> {
                            assertThat(old.address()).isEqualTo(oldGreen.endpoint());
                            assertThat(old.connections()).isPositive();
                        });
                load.awaitMoreSuccesses(300, Duration.ofSeconds(30));
                assertThat(slow.get(20, TimeUnit.SECONDS).bodyText()).startsWith("slept 6000 ms");
                // The replaced generation drains: its last requests finish, its connections close, and the old
                // gunicorn leaves the list: it may be stopped.
                await().atMost(Duration.ofSeconds(10)).until(() -> {
                    ProxyStatus.Release green = proxy.status().releases().get("green");
                    return green.endpoints().size() == 1
                            && green.connections() == green.endpoints().get(0).connections();
                });
                // The log says so too, once.
                String drainedLine = "release green: no connections left to " + oldGreen.endpoint()
                        + ", which a reload took out";
                await().atMost(Duration.ofSeconds(5)).until(() -> logged.messages().contains(drainedLine));
                assertThat(logged.messages()).filteredOn(drainedLine::equals).hasSize(1);
                oldGreen.stop();
                load.awaitMoreSuccesses(300, Duration.ofSeconds(30));

                LoadGenerator.Stats stats = load.stop();
                assertThat(stats.failures()).as("%s", stats.failureSamples()).isZero();
                assertThat(stats.countsByRelease()).containsKeys("green", "green-v2");
                assertThat(load.lastRequestAnsweredBy("green").orElse(0)).isLessThan(reloadedAt);
                assertThat(proxy.status().releases().get("green").endpoints())
                        .extracting(ProxyStatus.Endpoint::address).containsExactly(newGreen.endpoint());
            }
        }
    }

    /**
     * A chunked upload is collected before it goes upstream. If a reload moves its release meanwhile, it goes to the
     * release's new endpoint: /status no longer lists the old one (nothing is connected to it), so a deploy script
     * may already have stopped it.
     */
    @Test
    void anUploadCollectedWhileAReloadMovesItsReleaseGoesToTheNewEndpoint() throws Exception {
        try (CountingBackend blue = new CountingBackend();
             CountingBackend oldGreen = new CountingBackend();
             CountingBackend newGreen = new CountingBackend();
             // No health checks: whatever reaches the old endpoint is the upload.
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), oldGreen.endpoint(), NO_CHECKS));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(10_000);
            OutputStream out = client.getOutputStream();
            out.write(("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("green").inflight() == 1);

            proxy.reload(config(blue.endpoint(), newGreen.endpoint(), NO_CHECKS));
            assertThat(proxy.status().releases().get("green").endpoints())
                    .extracting(ProxyStatus.Endpoint::address).containsExactly(newGreen.endpoint());
            oldGreen.close();
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));

            String answer = new String(client.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(answer).isEqualTo("HTTP/1.1 200");
            await().atMost(Duration.ofSeconds(5)).until(() -> newGreen.bytesReceived() > 0);
            assertThat(oldGreen.requests()).isZero();
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> proxy.status().releases().get("green").inflight() == 0);
        }
    }

    /**
     * A request whose endpoint drops it after a reload moved the release is sent again to the release's new
     * endpoint, not failed for want of another endpoint on the old ones.
     */
    @Test
    void aRequestSentAgainAfterAReloadGoesToTheReleasesNewEndpoint() throws Exception {
        CountDownLatch taken = new CountDownLatch(1);
        CountDownLatch reloaded = new CountDownLatch(1);
        try (ServerSocket dropping = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             CountingBackend blue = new CountingBackend();
             CountingBackend newGreen = new CountingBackend()) {
            Thread worker = new Thread(() -> {
                try (Socket s = dropping.accept()) {
                    InputStream in = s.getInputStream();
                    StringBuilder head = new StringBuilder();
                    while (head.indexOf("\r\n\r\n") < 0 && head.length() < 8192) {
                        int b = in.read();
                        if (b < 0) {
                            return;
                        }
                        head.append((char) b);
                    }
                    taken.countDown();
                    reloaded.await(10, TimeUnit.SECONDS); // then drops it, as a crashed worker does
                } catch (IOException | InterruptedException e) {
                    // the test fails on its own assertions
                }
            });
            worker.start();
            String oldGreen = "127.0.0.1:" + dropping.getLocalPort();
            try (CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), oldGreen, NO_CHECKS));
                 RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                CompletableFuture<RawHttpClient.Response> answer = CompletableFuture.supplyAsync(() -> {
                    try {
                        return client.get("/report");
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                assertThat(taken.await(10, TimeUnit.SECONDS)).isTrue();

                proxy.reload(config(blue.endpoint(), newGreen.endpoint(), NO_CHECKS));
                reloaded.countDown();

                assertThat(answer.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
                assertThat(newGreen.requests()).isEqualTo(1);
            }
            worker.join(10_000);
        }
    }

    /** A deploy script that reads /status or waits on /drain never stops a removed release's gunicorn under a user. */
    @Test
    void aReleaseAReloadRemovedStaysInStatusAndDrainWhileItsRequestsRun() throws Exception {
        try (Gunicorn blue = Gunicorn.tcp("blue").start();
             Gunicorn green = Gunicorn.tcp("green").start();
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint(), ""),
                     new io.micrometer.core.instrument.simple.SimpleMeterRegistry())) {
            CompletableFuture<RawHttpClient.Response> slow = CompletableFuture.supplyAsync(() -> {
                try (RawHttpClient tester = new RawHttpClient(proxy.listenAddress())) {
                    return tester.get("/slow?ms=3000", java.util.Map.of("Cookie", "cp_release=blue"));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 1);

            assertThat(proxy.reload(TestConfigs.parse("""
                    proxy {
                      releases.green.endpoints = ["%s"]
                      routing.stable = green
                      health-check { interval = 300ms, timeout = 250ms }
                    }
                    """.formatted(green.endpoint())))).contains("release blue removed");

            ProxyStatus.Release removed = proxy.status().releases().get("blue");
            assertThat(removed).isNotNull();
            assertThat(removed.inflight()).isEqualTo(1);
            assertThat(removed.endpoints()).isNotEmpty().allSatisfy(e -> assertThat(e.removed()).isTrue());
            assertThat(proxy.meterRegistry().get("canary.proxy.inflight.requests").tag("release", "blue").gauge()
                    .value()).as("the gauge counts it too").isEqualTo(1);
            CompletableFuture<ProxyStatus.Release> drained = proxy.awaitDrained("blue", Duration.ofSeconds(20));
            assertThat(drained).isNotDone();

            assertThat(slow.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(drained.get(20, TimeUnit.SECONDS).drained()).isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> !proxy.status().releases().containsKey("blue"));
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.meterRegistry()
                    .find("canary.proxy.inflight.requests").tag("release", "blue").gauge() == null);
            assertThat(proxy.awaitDrained("blue", Duration.ofSeconds(1)).get(5, TimeUnit.SECONDS).drained())
                    .as("asked again once it is gone").isTrue();
        }
    }

    @Test
    void settingsReachConnectionsThatAreAlreadyOpen() throws Exception {
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint(), ""));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/").header("X-Served-By")).isNull();

            List<String> changes = proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy.routing.served-by-header = on"));

            assertThat(changes).singleElement().asString().startsWith("proxy.routing");
            assertThat(client.get("/").header("X-Served-By")).isEqualTo("green");
            assertThat(client.connectionsOpened()).isEqualTo(1);
            assertThat(proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy.routing.served-by-header = on"))).isEmpty();
        }
    }

    @Test
    void analysisSettingsAreReloadedAndABadOneRefusesTheWholeReload() throws Exception {
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint(), ""))) {
            List<String> changes = proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy.analysis.min-requests = 7"));
            assertThat(changes).containsExactly("proxy.analysis.min-requests: 100 -> 7");
            assertThat(proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy.analysis { min-requests = 7, steps = [10, 100] }"))).containsExactly(
                    "proxy.analysis.steps: [1, 5, 10, 25, 50, 100] -> [10, 100]");
            proxy.startAnalysis("blue", false);
            assertThat(proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy.analysis { min-requests = 7, steps = [20, 100] }"))).containsExactly(
                    "proxy.analysis.steps: [10, 100] -> [20, 100] (from the next run: the running analysis keeps"
                            + " its steps)");
            assertThat(proxy.routes().weightPercent()).isEqualTo(10.0);
            proxy.rollback();

            ProxyConfig before = proxy.config();
            assertThatThrownBy(() -> proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy { analysis.failure-limit = 0, routing.served-by-header = on }")))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("proxy.analysis.failure-limit");
            assertThat(proxy.config()).isSameAs(before);
        }
    }

    @Test
    void whatNeedsARestartIsRefusedAndNothingIsApplied() throws Exception {
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint(), ""))) {
            ProxyConfig before = proxy.config();

            assertThatThrownBy(() -> proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy { listen = \"127.0.0.1:1\", routing.served-by-header = on }")))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("proxy.listen").hasMessageContaining("restart");
            assertThatThrownBy(() -> proxy.reload(config(blue.endpoint(), green.endpoint(),
                    "proxy { transport = nio, routing.served-by-header = on }")))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("proxy.transport changed from " + before.transport() + " to nio")
                    .hasMessageContaining("restart");

            ProxyConfig withoutGreen = TestConfigs.parse("""
                    proxy {
                      releases.blue.endpoints = ["%s"]
                      routing.stable = blue
                    }
                    """.formatted(blue.endpoint()));
            assertThatThrownBy(() -> proxy.reload(withoutGreen))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("green");

            assertThat(proxy.config()).isSameAs(before);
            assertThat(proxy.routes().stable()).isEqualTo("green");
        }
    }
}
