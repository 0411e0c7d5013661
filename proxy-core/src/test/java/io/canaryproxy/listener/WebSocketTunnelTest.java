package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.ProxyStatus;
import io.canaryproxy.testing.TestConfigs;
import io.canaryproxy.testing.WebSocketEchoBackend;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** WebSocket connections are tunnelled after the 101 and closed after {@code drain.timeout} once switched away. */
class WebSocketTunnelTest {

    private WebSocketEchoBackend blue;
    private WebSocketEchoBackend green;
    private CanaryProxy proxy;

    @BeforeEach
    void start() {
        blue = new WebSocketEchoBackend("blue");
        green = new WebSocketEchoBackend("green");
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                  drain.timeout = 1s
                }
                """.formatted(blue.endpoint(), green.endpoint())));
    }

    @AfterEach
    void stop() {
        proxy.close();
        blue.close();
        green.close();
    }

    @Test
    void echoesThroughTheProxyAndClosesAfterTheDrainTimeout() throws Exception {
        Client client = Client.connect(proxy);
        assertThat(client.echo("hello")).isEqualTo("blue:hello");

        // Read before the call: the drain timer starts inside it.
        long switchedAt = System.nanoTime();
        proxy.switchTo("green", false);

        // Still open, and still on blue, during the drain window.
        assertThat(client.echo("still there")).isEqualTo("blue:still there");
        assertThat(proxy.status().releases().get("blue").upgraded()).isEqualTo(1);

        int status = client.closed.get(10, TimeUnit.SECONDS);
        long afterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - switchedAt);
        assertThat(afterMillis).as("closed by the drain, not before its timeout").isGreaterThanOrEqualTo(900);
        // Told, with a Close frame: the server is going away (not a dropped connection), so reconnect.
        assertThat(status).isEqualTo(1001);

        ProxyStatus.Release drained = proxy.awaitDrained("blue", Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS);
        assertThat(drained.drained()).as(drained.toString()).isTrue();

        Client onGreen = Client.connect(proxy);
        assertThat(onGreen.echo("hi")).isEqualTo("green:hi");
        onGreen.socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> proxy.status().releases().get("green").upgraded() == 0);
    }

    /** A tester checking which release a WebSocket reached looks where every other response says it. */
    @Test
    void theSwitchingProtocolsAnswerSaysWhichReleaseServesIt() throws Exception {
        try (CanaryProxy labelled = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  routing.stable = blue
                  routing.served-by-header = on
                  health-check.interval = 0
                }
                """.formatted(blue.endpoint())));
             Socket socket = new Socket("127.0.0.1", labelled.listenAddress().getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            StringBuilder head = new StringBuilder();
            InputStream in = socket.getInputStream();
            while (head.indexOf("\r\n\r\n") < 0) {
                int b = in.read();
                assertThat(b).as("closed before the end of the head: " + head).isNotNegative();
                head.append((char) b);
            }
            assertThat(head.toString()).startsWith("HTTP/1.1 101 ").containsOnlyOnce("X-Served-By: blue\r\n");
        }
    }

    @Test
    void aReleaseSwitchedAwayFromGetsTheWholeDrainTimeoutEvenRightAfterAnotherSwitch() throws Exception {
        proxy.switchTo("green", false);
        long firstSwitch = System.nanoTime();
        Client client = Client.connect(proxy);
        assertThat(client.echo("hello")).isEqualTo("green:hello");
        // Switch back while the first switch's drain timer (1 s) still runs, late enough that it would cut green's
        // connection well before green's own second.
        await().atMost(Duration.ofSeconds(5))
                .until(() -> System.nanoTime() - firstSwitch >= TimeUnit.MILLISECONDS.toNanos(600));
        long secondSwitch = System.nanoTime();
        proxy.switchTo("blue", false);

        client.closed.get(10, TimeUnit.SECONDS);
        long afterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - secondSwitch);
        assertThat(afterMillis).as("closed a drain timeout after green was switched away from")
                .isGreaterThanOrEqualTo(900);
    }

    /** A stop tells WebSocket clients it is going away before it closes their connections. */
    @Test
    void aStopSaysItIsGoingAway() throws Exception {
        Client client = Client.connect(proxy);
        assertThat(client.echo("hello")).isEqualTo("blue:hello");

        proxy.close();

        assertThat(client.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1001);
    }

    /** A tester's tunnel to a release pinned with cp_release, opened after it was switched away from, is theirs. */
    @Test
    void aTunnelPinnedToAnUnroutedReleaseOutlivesLaterDrains() throws Exception {
        proxy.switchTo("green", false);
        proxy.switchTo("blue", false);
        Client tester = Client.connect(proxy, "cp_release=green");
        assertThat(tester.echo("hello")).isEqualTo("green:hello");

        proxy.switchTo("blue", false); // any change of the route table schedules the drain of unrouted releases
        await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
                .until(() -> !tester.closed.isDone() && proxy.status().releases().get("green").upgraded() == 1);
        assertThat(tester.echo("still here")).isEqualTo("green:still here");
    }

    private static final class Client implements WebSocket.Listener {
        final LinkedBlockingQueue<String> messages = new LinkedBlockingQueue<>();
        /** The status of the Close frame the client got, or -1 when the connection dropped without one. */
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        final StringBuilder partial = new StringBuilder();
        WebSocket socket;

        static Client connect(CanaryProxy proxy) throws Exception {
            return connect(proxy, null);
        }

        static Client connect(CanaryProxy proxy, String cookie) throws Exception {
            Client c = new Client();
            URI uri = URI.create("ws://127.0.0.1:" + proxy.listenAddress().getPort() + "/ws");
            WebSocket.Builder builder = HttpClient.newHttpClient().newWebSocketBuilder();
            if (cookie != null) {
                builder.header("Cookie", cookie);
            }
            c.socket = builder.buildAsync(uri, c).get(5, TimeUnit.SECONDS);
            return c;
        }

        String echo(String text) throws Exception {
            socket.sendText(text, true).get(5, TimeUnit.SECONDS);
            String reply = messages.poll(5, TimeUnit.SECONDS);
            assertThat(reply).as("echo of " + text).isNotNull();
            return reply;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                messages.add(partial.toString());
                partial.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closed.complete(-1);
        }
    }
}
