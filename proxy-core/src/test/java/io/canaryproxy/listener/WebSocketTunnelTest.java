package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.ProxyStatus;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.TestConfigs;
import io.canaryproxy.testing.WebSocketEchoBackend;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** WebSocket connections are tunnelled after the 101 and closed after {@code drain.timeout} once switched away. */
class WebSocketTunnelTest {

    private WebSocketEchoBackend blue;
    private WebSocketEchoBackend green;
    private CanaryProxy proxy;

    @BeforeEach
    void start() {
        blue = new WebSocketEchoBackend("blue");
        green = new WebSocketEchoBackend("green");
        proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint()));
    }

    private static ProxyConfig config(String blue, String green) {
        return config(blue, green, "1s");
    }

    private static ProxyConfig config(String blue, String green, String drainTimeout) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                  drain.timeout = %s
                }
                """.formatted(blue, green, drainTimeout));
    }

    @AfterEach
    void stop() {
        proxy.close();
        blue.close();
        green.close();
    }

    @Test
    void echoesThroughTheProxyAndClosesAfterTheDrainTimeout() throws Exception {
        // A drain window long enough for an echo on a loaded machine.
        proxy.close();
        proxy = CanaryProxy.start(config(blue.endpoint(), green.endpoint(), "5s"));
        Client client = Client.connect(proxy);
        assertThat(client.echo("hello")).isEqualTo("blue:hello");

        // Read before the call: the drain timer starts inside it.
        long switchedAt = System.nanoTime();
        proxy.switchTo("green", false);

        // Still open, and still on blue, during the drain window.
        assertThat(client.echo("still there")).isEqualTo("blue:still there");
        assertThat(proxy.status().releases().get("blue").upgraded()).isEqualTo(1);

        int status = client.closed.get(20, TimeUnit.SECONDS);
        long afterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - switchedAt);
        assertThat(afterMillis).as("closed by the drain, not before its timeout").isGreaterThanOrEqualTo(4_900);
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
            assertThat(HttpHeads.read(socket.getInputStream())).startsWith("HTTP/1.1 101 ")
                    .containsOnlyOnce("X-Served-By: blue\r\n");
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

    /** Green stable, then blue again: a tester then opens a tunnel pinned to green, which no user is routed to. */
    private Client testerPinnedToGreenAfterItsDrain() throws Exception {
        proxy.switchTo("green", false);
        proxy.switchTo("blue", false);
        Client tester = Client.connect(proxy, "cp_release=green");
        assertThat(tester.echo("hello")).isEqualTo("green:hello");
        return tester;
    }

    /** A tester's tunnel to a release pinned with cp_release, opened after it was switched away from, is theirs. */
    @Test
    void aTunnelPinnedToAnUnroutedReleaseOutlivesLaterDrains() throws Exception {
        Client tester = testerPinnedToGreenAfterItsDrain();

        proxy.switchTo("blue", false); // any change of the route table schedules the drain of unrouted releases
        await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
                .until(() -> !tester.closed.isDone() && proxy.status().releases().get("green").upgraded() == 1);
        assertThat(tester.echo("still here")).isEqualTo("green:still here");
    }

    /**
     * A tunnel whose request the route table sent to blue before a switch is that switch's to drain, however late
     * the app's 101 comes: while the drain timeout runs, or after it ran out.
     */
    @ParameterizedTest(name = "the 101 comes {0} the drain timeout")
    @ValueSource(strings = {"within", "after"})
    void aTunnelRoutedBeforeASwitchIsDrainedHoweverLateItsUpgrade(String when) throws Exception {
        CountDownLatch answer = new CountDownLatch(1);
        try (ScriptedBackend slowBlue = new ScriptedBackend();
             ScriptedBackend otherGreen = new ScriptedBackend()) {
            slowBlue.on("/up", Reply.of("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n"
                    + "Connection: Upgrade\r\n\r\n").holdAt(1, answer));
            try (CanaryProxy own = CanaryProxy.start(config(slowBlue.endpoint(), otherGreen.endpoint(), "300ms"));
                 Socket client = new Socket(InetAddress.getLoopbackAddress(), own.listenAddress().getPort())) {
                client.setSoTimeout(10_000);
                client.getOutputStream().write(("GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n"
                        + "Connection: Upgrade\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                await().atMost(Duration.ofSeconds(5)).until(() -> slowBlue.requests() == 1);

                own.switchTo("green", false);
                if (when.equals("after")) {
                    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(5))
                            .until(() -> own.status().releases().get("blue").inflight() == 1);
                }
                answer.countDown();

                InputStream in = client.getInputStream();
                assertThat(new String(in.readNBytes(12), StandardCharsets.US_ASCII)).isEqualTo("HTTP/1.1 101");
                // Returns at the tunnel's end; one left open times the read out.
                assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).endsWith("\r\n\r\n");
                assertThat(own.awaitDrained("blue", Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS).drained())
                        .isTrue();
            }
        }
    }

    /**
     * A reload that moves a release to new endpoints ends every tunnel on the old ones after drain.timeout, a
     * tester's pinned one too: the old backend is to be stopped, and /status lists it while a tunnel is open.
     */
    @Test
    void aReloadEndsEvenAPinnedTunnelOnTheEndpointsItTookOut() throws Exception {
        Client tester = testerPinnedToGreenAfterItsDrain();

        try (WebSocketEchoBackend newGreen = new WebSocketEchoBackend("green-v2")) {
            proxy.reload(config(blue.endpoint(), newGreen.endpoint()));

            assertThat(tester.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1001);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> proxy.status().releases().get("green").upgraded() == 0);
            assertThat(Client.connect(proxy, "cp_release=green").echo("hi")).isEqualTo("green-v2:hi");
        }
    }

    private static final String HANDSHAKE = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /**
     * A client that sends its first frame without waiting for the 101 (in the same write as the handshake) gets its
     * echo: the frame is the new protocol's, not a request to decode and drop.
     */
    @Test
    void aFrameSentWithTheHandshakeReachesTheApp() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            socket.setSoTimeout(10_000);
            byte[] handshake = HANDSHAKE.getBytes(StandardCharsets.US_ASCII);
            byte[] frame = maskedText("early");
            byte[] both = new byte[handshake.length + frame.length];
            System.arraycopy(handshake, 0, both, 0, handshake.length);
            System.arraycopy(frame, 0, both, handshake.length, frame.length);
            socket.getOutputStream().write(both);

            InputStream in = socket.getInputStream();
            assertThat(HttpHeads.read(in)).startsWith("HTTP/1.1 101 ");
            assertThat(readText(in)).isEqualTo("blue:early");
            socket.getOutputStream().write(maskedText("later"));
            assertThat(readText(in)).isEqualTo("blue:later");
        }
    }

    /**
     * Bytes behind a request that asked for an upgrade and got none (the app answered 200) are the next request,
     * whole or still arriving: it is served, in order, on the same connection.
     */
    @Test
    void theRequestBehindAnUpgradeThatWasNotMadeIsServed() throws Exception {
        String notSwitched = "GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress()).readTimeout(Duration.ofSeconds(10))) {
            RawHttpClient.Response first = client.sendRaw((notSwitched + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    + notSwitched + "GET /healthz HTTP/1.1\r\nHost: x\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(first.status()).isEqualTo(200);
            assertThat(client.readResponse("GET").status()).isEqualTo(200);
            assertThat(client.readResponse("GET").status()).isEqualTo(200);

            assertThat(client.sendRaw("\r\n".getBytes(StandardCharsets.US_ASCII)).status())
                    .as("the head completed later").isEqualTo(200);
        }
    }

    /**
     * A client that sends more than the proxy holds (64 KiB) before the upstream's 101 is no longer read until the
     * switch, and then every byte reaches the upstream, in order.
     */
    @Test
    void bytesSentBeforeALateSwitchAllReachTheUpstream() throws Exception {
        byte[] ahead = new byte[100 * 1024];
        new java.util.Random(7).nextBytes(ahead);
        CountDownLatch headSeen = new CountDownLatch(1);
        CountDownLatch mayAnswer = new CountDownLatch(1);
        CompletableFuture<byte[]> received = new CompletableFuture<>();
        try (ServerSocket upstream = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread server = new Thread(() -> {
                try (Socket s = upstream.accept()) {
                    InputStream in = s.getInputStream();
                    HttpHeads.read(in);
                    headSeen.countDown();
                    mayAnswer.await();
                    s.getOutputStream().write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\n"
                            + "Connection: Upgrade\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    received.complete(in.readNBytes(ahead.length));
                } catch (Throwable e) {
                    received.completeExceptionally(e);
                }
            });
            server.start();
            try (CanaryProxy late = CanaryProxy.start(TestConfigs.parse("""
                    proxy {
                      releases.blue.endpoints = ["127.0.0.1:%d"]
                      routing.stable = blue
                      health-check.interval = 0
                    }
                    """.formatted(upstream.getLocalPort())));
                 Socket client = new Socket("127.0.0.1", late.listenAddress().getPort())) {
                client.setSoTimeout(10_000);
                OutputStream out = client.getOutputStream();
                out.write("GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                assertThat(headSeen.await(10, TimeUnit.SECONDS)).isTrue();
                // Beyond what the proxy holds, within what the kernel buffers once it stops reading.
                out.write(ahead);
                mayAnswer.countDown();

                assertThat(HttpHeads.read(client.getInputStream())).startsWith("HTTP/1.1 101 ");
                assertThat(received.get(10, TimeUnit.SECONDS)).isEqualTo(ahead);
            }
            server.join(10_000);
        }
    }

    /** RFC 9110 7.8: the Upgrade of an HTTP/1.0 request is ignored; it does not reach the app as one. */
    @Test
    void anHttp10RequestIsNotUpgraded() throws Exception {
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress()).readTimeout(Duration.ofSeconds(10))) {
            RawHttpClient.Response response = client.sendRaw(HANDSHAKE.replace("HTTP/1.1", "HTTP/1.0")
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(response.status()).as("the app's answer to a request without Upgrade").isEqualTo(400);
        }
        assertThat(proxy.status().releases().get("blue").upgraded()).isZero();
    }

    /** A client-to-server text frame (RFC 6455 5.3: masked). */
    private static byte[] maskedText(String text) {
        byte[] payload = text.getBytes(StandardCharsets.UTF_8);
        byte[] mask = {1, 2, 3, 4};
        byte[] frame = new byte[6 + payload.length];
        frame[0] = (byte) 0x81;
        frame[1] = (byte) (0x80 | payload.length);
        System.arraycopy(mask, 0, frame, 2, 4);
        for (int i = 0; i < payload.length; i++) {
            frame[6 + i] = (byte) (payload[i] ^ mask[i % 4]);
        }
        return frame;
    }

    /** A short unmasked text frame from the server. */
    private static String readText(InputStream in) throws Exception {
        byte[] start = in.readNBytes(2);
        assertThat(start).hasSize(2);
        assertThat(start[0] & 0xff).as("a final text frame").isEqualTo(0x81);
        return new String(in.readNBytes(start[1] & 0x7f), StandardCharsets.UTF_8);
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
