package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The proxy as a library: its lifecycle, as an application that embeds it starts, changes and stops it. */
class EmbeddingTest {

    private static final String SLOW_ANSWER = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow";

    private final CountDownLatch answer = new CountDownLatch(1);
    private ScriptedBackend blue;
    private CountingBackend green;

    @BeforeEach
    void startBackends() throws IOException {
        blue = new ScriptedBackend();
        blue.on("/slow", Reply.of(SLOW_ANSWER).holdAt(SLOW_ANSWER.length() - 4, answer));
        blue.otherwise(Reply.of("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nblue"));
        green = new CountingBackend();
    }

    @AfterEach
    void stopBackends() throws IOException {
        answer.countDown();
        blue.close();
        green.close();
    }

    private ProxyConfig config(String extra) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                }
                %s
                """.formatted(blue.endpoint(), green.endpoint(), extra));
    }

    /** A request to blue that waits for {@link #answer}, on a thread of its own. */
    private CompletableFuture<RawHttpClient.Response> slowRequest(CanaryProxy proxy) {
        return slowRequest(proxy, "/slow");
    }

    /** A request for {@code path} pinned to blue, on a thread of its own, once blue counts it in flight. */
    private static CompletableFuture<RawHttpClient.Response> slowRequest(CanaryProxy proxy, String path) {
        CompletableFuture<RawHttpClient.Response> slow = CompletableFuture.supplyAsync(() -> {
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                return client.get(path, Map.of("Cookie", "cp_release=blue"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.status().releases().get("blue").inflight() == 1);
        return slow;
    }

    /**
     * The stop waits for the event loops to end: called on one, in a callback of a future the proxy completed
     * there, it would wait for ever. It is refused, and a stop from another thread then works.
     */
    @Test
    void aStopOnAnEventLoopIsRefusedRatherThanHangingIt() {
        CanaryProxy proxy = CanaryProxy.start(config(""));
        AtomicReference<String> refusal = new AtomicReference<>();
        // Until the callback runs on an event loop: it runs on the caller's thread if the future is done already.
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            proxy.requestsInFlight("blue", 1).thenAccept(none -> {
                String thread = Thread.currentThread().getName();
                if (thread.startsWith("canary-proxy-") && !thread.equals("canary-proxy-control")) {
                    try {
                        proxy.stop();
                    } catch (IllegalStateException e) {
                        refusal.set(e.getMessage());
                    }
                }
            }).get(5, TimeUnit.SECONDS);
            return refusal.get() != null;
        });

        assertThat(refusal.get()).contains("another thread");
        proxy.stop();
        assertThatThrownBy(() -> proxy.switchTo("green", true)).hasMessage("the proxy has stopped");
    }

    /**
     * A stopped proxy changes nothing: the next proxy on its state file may already be running, and a promotion
     * made through the old one must not land in that file.
     */
    @Test
    void aStoppedProxyRefusesChangesAndLeavesTheStateFileToTheNextOne(@TempDir Path dir) throws Exception {
        Path stateFile = dir.resolve("state.json");
        ProxyConfig config = config("proxy.state-file = \"" + stateFile + "\"");
        CanaryProxy first = CanaryProxy.start(config);
        first.setCanary("green", 10, false);
        first.stop();

        try (CanaryProxy next = CanaryProxy.start(config)) {
            String saved = Files.readString(stateFile);
            RouteTable table = next.routes();
            assertThat(table.canary()).isEqualTo("green");

            assertThatThrownBy(first::promote).isInstanceOf(IllegalStateException.class)
                    .hasMessage("the proxy has stopped");
            assertThatThrownBy(first::rollback).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> first.switchTo("green", true)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> first.setCanary("green", 50, true)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> first.startAnalysis("green", true)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> first.reload(config)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> first.awaitDrained("green", Duration.ofSeconds(1)))
                    .isInstanceOf(IllegalStateException.class);

            assertThat(Files.readString(stateFile)).isEqualTo(saved);
            assertThat(next.routes()).isEqualTo(table);
        }
    }

    /** A drain waited for ends with the stop, with what the stop left: a caller that joins it is not left hanging. */
    @Test
    void aStopEndsTheDrainWaitsUnderWay() throws Exception {
        CanaryProxy proxy = CanaryProxy.start(config("proxy.drain.timeout = 200ms"));
        proxy.switchTo("green", false);
        CompletableFuture<RawHttpClient.Response> slow = slowRequest(proxy);
        CompletableFuture<ProxyStatus.Release> drained = proxy.awaitDrained("blue", Duration.ofMinutes(10));

        proxy.stop();

        ProxyStatus.Release blueAtTheStop = drained.get(5, TimeUnit.SECONDS);
        assertThat(blueAtTheStop.name()).isEqualTo("blue");
        assertThat(blueAtTheStop.drained()).as("its request was cut by the stop, not finished").isFalse();
        assertThat(blueAtTheStop.inflight()).isEqualTo(1);
        answer.countDown();
        assertThat(slow).failsWithin(Duration.ofSeconds(5)); // cut by the stop, after drain.timeout
    }

    /** A stop that waits for requests in flight does not hold up a drain wait whose own deadline comes first. */
    @Test
    void aDrainWaitKeepsItsDeadlineWhileAStopWaitsForRequests() throws Exception {
        CanaryProxy proxy = CanaryProxy.start(config("proxy.drain.timeout = 20s"));
        proxy.switchTo("green", false);
        CompletableFuture<RawHttpClient.Response> slow = slowRequest(proxy);
        CompletableFuture<ProxyStatus.Release> drained = proxy.awaitDrained("blue", Duration.ofSeconds(2));
        CompletableFuture<Void> stop = CompletableFuture.runAsync(proxy::stop);

        ProxyStatus.Release atItsDeadline = drained.get(10, TimeUnit.SECONDS);
        assertThat(atItsDeadline.drained()).isFalse();
        assertThat(stop).as("the stop still waits for the request").isNotDone();

        answer.countDown();
        stop.get(10, TimeUnit.SECONDS);
        assertThat(slow.get(5, TimeUnit.SECONDS).bodyText()).isEqualTo("slow");
    }

    /** A second stop, a shutdown hook's beside a try-with-resources, say, returns only once the proxy has stopped. */
    @Test
    void aSecondStopReturnsOnlyOnceTheFirstHasStopped() throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        CanaryProxy proxy = CanaryProxy.start(config("proxy.drain.timeout = 5s"), registry);
        CompletableFuture<RawHttpClient.Response> slow = slowRequest(proxy);
        CompletableFuture<Void> firstStop = CompletableFuture.runAsync(proxy::stop);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThatThrownBy(proxy::promote)
                .hasMessage("the proxy is stopping"));

        CountDownLatch secondCalled = new CountDownLatch(1);
        CompletableFuture<Void> secondStop = CompletableFuture.runAsync(() -> {
            secondCalled.countDown();
            proxy.stop();
        });
        assertThat(secondCalled.await(5, TimeUnit.SECONDS)).isTrue();
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> !secondStop.isDone());
        answer.countDown();
        secondStop.get(10, TimeUnit.SECONDS);

        assertThat(slow.get(5, TimeUnit.SECONDS).bodyText()).isEqualTo("slow");
        assertThat(proxyMeters(registry)).as("meters left after the second stop returned").isEmpty();
        firstStop.get(5, TimeUnit.SECONDS);
    }

    /**
     * A proxy's meters go with it: the next proxy on the same registry registers its own, where the stopped one's
     * gauges would stay in its place, reading a proxy that no longer runs.
     */
    @Test
    void theNextProxyOnARegistryReportsItself() {
        MeterRegistry registry = new SimpleMeterRegistry();
        CanaryProxy first = CanaryProxy.start(config(""), registry);
        assertThat(proxyMeters(registry)).isNotEmpty();
        first.stop();
        assertThat(proxyMeters(registry)).isEmpty();

        try (CanaryProxy next = CanaryProxy.start(config(""), registry)) {
            next.switchTo("green", true);
            assertThat(registry.get("canary.proxy.release.routed").tag("release", "green").gauge().value())
                    .isEqualTo(1.0);
        }
    }

    /**
     * A drain wait's callback that stops the proxy, as a shutdown path may: it runs as the stop ends the waits, on
     * the stopping thread, or on the proxy's control thread when the release drains first. Neither waits for itself.
     */
    @Test
    void aStopFromADrainWaitsCallbackEnds() throws Exception {
        CanaryProxy cutShort = CanaryProxy.start(config("proxy.drain.timeout = 200ms"));
        cutShort.switchTo("green", false);
        CompletableFuture<RawHttpClient.Response> slow = slowRequest(cutShort);
        cutShort.awaitDrained("blue", Duration.ofMinutes(10)).thenRun(cutShort::stop);
        CompletableFuture.runAsync(cutShort::stop).get(10, TimeUnit.SECONDS);
        answer.countDown();
        assertThat(slow).failsWithin(Duration.ofSeconds(5));

        CountDownLatch secondAnswer = new CountDownLatch(1);
        blue.on("/slow2", Reply.of(SLOW_ANSWER).holdAt(SLOW_ANSWER.length() - 4, secondAnswer));
        CanaryProxy drains = CanaryProxy.start(config(""));
        drains.switchTo("green", false);
        CompletableFuture<RawHttpClient.Response> held = slowRequest(drains, "/slow2");
        CompletableFuture<String> stoppedOn = new CompletableFuture<>();
        // Attached while blue still has its request: the wait completes on the control thread once it ends.
        drains.awaitDrained("blue", Duration.ofMinutes(1)).thenRun(() -> {
            drains.stop();
            stoppedOn.complete(Thread.currentThread().getName());
        });
        secondAnswer.countDown();
        assertThat(held.get(5, TimeUnit.SECONDS).bodyText()).isEqualTo("slow");
        assertThat(stoppedOn.get(10, TimeUnit.SECONDS)).isEqualTo("canary-proxy-control");
        assertThatThrownBy(() -> drains.switchTo("blue", true)).hasMessage("the proxy has stopped");
    }

    /** Two running proxies on one registry would mix their meters: the second is refused, and says why. */
    @Test
    void aRegistryAnotherProxyUsesIsRefused() {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy first = CanaryProxy.start(config(""), registry)) {
            int meters = proxyMeters(registry).size();
            assertThatThrownBy(() -> CanaryProxy.start(config(""), registry))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("a registry of its own");
            assertThat(proxyMeters(registry)).as("the running proxy's meters").hasSize(meters);
        }
    }

    @Test
    void argumentsOutsideWhatTheProxyCanDoAreRefused() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            assertThatThrownBy(() -> proxy.setCanary("green", 0.004, true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0.01 %");
            assertThat(proxy.setCanary("green", 33.333, true).weightBasisPoints()).isEqualTo(3333);
            assertThatThrownBy(() -> proxy.requestsInFlight("blue", -1)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> proxy.status().releases().clear())
                    .isInstanceOf(UnsupportedOperationException.class);
            assertThat(proxy.setCanary("green", 12.5, true).weightBasisPoints()).isEqualTo(1250);

            proxy.switchTo("green", true);
            assertThat(proxy.awaitDrained("blue", Duration.ofSeconds(Long.MAX_VALUE)))
                    .succeedsWithin(Duration.ofSeconds(5)).satisfies(s -> assertThat(s.drained()).isTrue());
        }
    }

    private static java.util.List<Meter> proxyMeters(MeterRegistry registry) {
        return registry.getMeters().stream().filter(m -> m.getId().getName().startsWith("canary.proxy.")).toList();
    }
}
