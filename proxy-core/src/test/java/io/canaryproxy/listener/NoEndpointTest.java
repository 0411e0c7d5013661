package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A release whose only endpoint is gone: small, fast answers, and keep-alive clients keep their connection. */
class NoEndpointTest {

    @Test
    void theAnswersOfAnOutageKeepTheConnectionOpen(@TempDir Path dir) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + dir.resolve("gone.sock"),
                "proxy.health-check.interval = 0"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // Nothing listens: each request tries (the only endpoint of a release is not ejected for refused
            // connects) and gets the proxy's 502.
            for (int i = 0; i < 4; i++) {
                RawHttpClient.Response r = client.get("/");
                assertThat(r.status()).isEqualTo(502);
                assertThat(r.header("Connection")).isNull();
                assertThat(r.header("Date")).as("the proxy dates its own answers").endsWith(" GMT");
            }
            RawHttpClient.Response head = client.send("HEAD", "/", Map.of(), null);
            assertThat(head.status()).isEqualTo(502);
            assertThat(head.body()).isEmpty();
            assertThat(client.connectionsOpened()).as("one connection for all of them").isEqualTo(1);
        }
    }

    /** RFC 9112 9.3: an HTTP/1.0 client keeps its connection only when the answer says so. */
    @Test
    void anHttp10KeepAliveClientIsToldItsConnectionStaysOpen(@TempDir Path dir) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + dir.resolve("gone.sock"),
                "proxy.health-check.interval = 0"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            byte[] get = "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < 3; i++) {
                RawHttpClient.Response r = client.sendRaw(get);
                assertThat(r.status()).isEqualTo(502);
                assertThat(r.header("Connection")).isEqualToIgnoringCase("keep-alive");
            }
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
    }

    /** The error log tells an outage as /metrics counts it: each refused request is a line, up to the limit. */
    @Test
    void eachRefusedRequestOfAnOutageIsLogged(@TempDir Path dir) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + dir.resolve("gone.sock"),
                "proxy.health-check.interval = 0"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress());
             Captured logged = Captured.from(UpstreamFailureLog.class)) {
            for (int i = 0; i < 4; i++) {
                assertThat(client.get("/orders?page=" + i).status()).isEqualTo(502);
            }

            assertThat(logged.messages()).hasSize(4);
            assertThat(logged.messages()).allSatisfy(line -> assertThat(line)
                    .startsWith("502 GET /orders?… from 127.0.0.1 (release blue): connect to unix:")
                    .endsWith("gone.sock failed: no such socket file"));
        }
    }

    /** An outage that ends has its left-out failures counted all the same, by a line of their own. */
    @Test
    void theEndOfAnOutageIsCountedInTheLog(@TempDir Path dir) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + dir.resolve("gone.sock"),
                "proxy.health-check.interval = 0"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress());
             Captured logged = Captured.from(UpstreamFailureLog.class)) {
            // Refused connects take microseconds: far more than twenty of these fall in one second.
            for (int i = 0; i < 200; i++) {
                assertThat(client.get("/").status()).isEqualTo(502);
            }

            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(logged.messages())
                    .last(InstanceOfAssertFactories.STRING)
                    .matches("\\d+ more upstream failures since \\d\\d:\\d\\d:\\d\\d not logged"));
        }
    }
}
