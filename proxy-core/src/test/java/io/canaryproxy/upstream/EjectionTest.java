package io.canaryproxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.NetworkInterface;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Passive ejection: an endpoint whose connects fail is taken out so that requests go to the others. One whose
 * connects fail at once is still tried while its release has nothing else, so that a restarted gunicorn serves the
 * first request after it is back.
 */
class EjectionTest {

    private WireMockServer other;

    @BeforeEach
    void startOther() {
        other = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        other.start();
        other.stubFor(get(urlEqualTo("/")).willReturn(aResponse().withStatus(200).withBody("other")));
        other.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(200)));
    }

    @AfterEach
    void stopOther() {
        other.stop();
    }

    /** The runbook of a plain `systemctl restart` of the only gunicorn, with active checks off. */
    @Test
    void theOnlyGunicornServesTheFirstRequestAfterItIsBack(@TempDir Path dir) throws Exception {
        Gunicorn blue = Gunicorn.unixSocket("blue", dir);
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + blue.socketPath(), """
                proxy.upstream { eject-after = 3, eject-duration = 1h }
                """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 5; i++) {
                assertThat(client.get("/").status()).as("tried, not refused with a 503").isEqualTo(502);
            }
            assertThat(endpointHealthy(proxy, 0)).as("ejected").isFalse();
            assertThat(problem(proxy, 0)).isEqualTo("ejected after 3 connect failures in a row (no such socket file);"
                    + " still tried while its release has nothing else");

            try (Gunicorn started = blue.start()) {
                RawHttpClient.Response first = client.get("/");

                assertThat(first.status()).isEqualTo(200);
                assertThat(first.bodyText()).isEqualTo("release=blue\n");
                assertThat(endpointHealthy(proxy, 0)).as("a connect ends the ejection").isTrue();
                assertThat(problem(proxy, 0)).isNull();
            }
        }
    }

    /** Nothing listens on the port: refused at once, as a Unix socket whose file is there and its process not. */
    @Test
    void aPortThatRefusesIsStillTriedWhenItIsAllTheReleaseHas() throws Exception {
        int port = Ports.unused();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + port, """
                proxy.upstream { eject-after = 3, eject-duration = 1h }
                """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 5; i++) {
                assertThat(client.get("/").status()).isEqualTo(502);
            }
            assertThat(endpointHealthy(proxy, 0)).as("ejected").isFalse();
        }
    }

    @Test
    void anEndpointThatRefusesIsEjectedWhileAnotherServes(@TempDir Path dir) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["unix:%s", "127.0.0.1:%d"]
                  routing.stable = blue
                  health-check.interval = 0
                  upstream { eject-after = 3, eject-duration = 1h }
                }
                """.formatted(dir.resolve("gone.sock"), other.port())));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 10; i++) {
                RawHttpClient.Response r = client.get("/");
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("other");
            }

            assertThat(endpointHealthy(proxy, 0)).as("ejected").isFalse();
            assertThat(endpointHealthy(proxy, 1)).isTrue();
        }
    }

    /**
     * A connect that times out costs every request that waits for it: an endpoint on another host whose connects
     * time out (a host gone from the network, or hung) is ejected even when it is the release's last, and its
     * requests get 503 at once instead of waiting out the connect timeout each. The machine's own non-loopback
     * address stands in for another host here; a full accept queue drops SYNs on it as on any.
     */
    @Test
    void anEndpointWhoseConnectsTimeOutIsEjectedEvenAsTheLast() throws Exception {
        InetAddress elsewhere = nonLoopbackAddress();
        try (ServerSocket hung = new ServerSocket(0, 1, elsewhere);
             Backlog full = Backlog.fill(hung);
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(
                     elsewhere.getHostAddress() + ":" + hung.getLocalPort(), """
                     proxy.upstream { connect-timeout = 200ms, max-retries = 2, eject-after = 3, eject-duration = 1h }
                     proxy.routing.served-by-header = on
                     """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress());
             Captured logged = Captured.from("io.canaryproxy.listener.UpstreamFailureLog")) {
            for (int i = 0; i < 3; i++) {
                RawHttpClient.Response failed = client.get("/");
                assertThat(failed.status()).isEqualTo(502);
                assertThat(failed.header("X-Served-By")).as("the release that failed").isEqualTo("blue");
            }
            assertThat(endpointHealthy(proxy, 0)).as("ejected").isFalse();

            // Refused by the proxy itself: a request that tried to connect would have got a 502.
            RawHttpClient.Response none = client.get("/");
            assertThat(none.status()).isEqualTo(503);
            assertThat(none.header("X-Served-By")).isEqualTo("blue");
            // The log line says why, endpoint by endpoint: it is all an operator sees of the 503.
            assertThat(logged.messages()).last(InstanceOfAssertFactories.STRING).startsWith("503 GET /")
                    .endsWith("every endpoint of release blue is ejected after failed connects ("
                            + elsewhere.getHostAddress() + ":" + hung.getLocalPort()
                            + ": ejected after 3 connect failures in a row (connect timed out))");
        }
    }

    /** A host that refused and now lets connects time out (gone from the network) is no longer worth a try. */
    @Test
    void anEndpointThatRefusedAndNowTimesOutIsNoLongerTried() throws Exception {
        InetAddress elsewhere = nonLoopbackAddress();
        int port = Ports.unused();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(elsewhere.getHostAddress() + ":" + port, """
                proxy.upstream { connect-timeout = 200ms, eject-after = 3, eject-duration = 1h }
                """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 3; i++) {
                assertThat(client.get("/").status()).isEqualTo(502);
            }
            assertThat(client.get("/").status()).as("refused: still tried").isEqualTo(502);

            try (ServerSocket hung = new ServerSocket()) {
                hung.setReuseAddress(true);
                hung.bind(new InetSocketAddress(elsewhere, port), 1);
                try (Backlog full = Backlog.fill(hung)) {
                    assertThat(client.get("/").status()).as("timed out").isEqualTo(502);

                    assertThat(client.get("/").status()).as("nothing left to try").isEqualTo(503);
                    assertThat(problem(proxy, 0)).startsWith("ejected after ").endsWith("(connect timed out)");
                }
            }
        }
    }

    /**
     * A port on the loopback interface whose connects time out has a full accept queue: a gunicorn whose workers
     * are all busy, not a host gone. As the release's last endpoint it is still tried, as a refusing one is: each
     * request waits for its connect, and is served once a worker takes the queue on, where a 503 for everyone
     * would last until a health check passed.
     */
    @Test
    void aBusyLoopbackPortIsStillTriedAsTheLast() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + busy.getLocalPort(), """
                     proxy.upstream { connect-timeout = 200ms, eject-after = 1, eject-duration = 1h }
                     """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            try (Backlog full = Backlog.fill(busy)) {
                assertThat(client.get("/").status()).as("connect timed out").isEqualTo(502);
                assertThat(client.get("/").status()).as("tried again, not refused at once").isEqualTo(502);
                assertThat(problem(proxy, 0)).startsWith("ejected after ").contains("(connect timed out)")
                        .endsWith("still tried while its release has nothing else");
            }
            // The queue is taken on: the next connect gets in, and its request is answered.
            Thread worker = new Thread(() -> {
                try (Socket s = busy.accept()) {
                    HttpHeads.read(s.getInputStream());
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                            .getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // the assertion below fails
                }
            });
            drain(busy);
            worker.start();
            assertThat(client.get("/").bodyText()).isEqualTo("ok");
            worker.join(5000);
        }
    }

    /** Accepts and closes what the queue holds, so that the next connect is the next one accepted. */
    private static void drain(ServerSocket server) throws IOException {
        server.setSoTimeout(200);
        try {
            while (true) {
                server.accept().close();
            }
        } catch (SocketTimeoutException empty) {
            server.setSoTimeout(0);
        }
    }

    /** An address of one of this machine's interfaces other than loopback; the test is skipped without one. */
    private static InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a instanceof Inet4Address) {
                    return a;
                }
            }
        }
        Assumptions.assumeTrue(false, "no network interface other than loopback");
        return null;
    }

    /**
     * An ejection is about connects; the first check that connects and is answered ends it, without waiting for
     * {@code rise} of them (which moves the health the checks themselves took away).
     */
    @Test
    void theFirstPassingCheckEndsAnEjection(@TempDir Path dir) throws Exception {
        Gunicorn blue = Gunicorn.unixSocket("blue", dir);
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["unix:%s", "127.0.0.1:%d"]
                  routing.stable = blue
                  health-check { interval = 200ms, timeout = 200ms, rise = 100, fall = 1000 }
                  upstream { eject-after = 3, eject-duration = 1h }
                }
                """.formatted(blue.socketPath(), other.port())));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                assertThat(client.get("/").status()).isEqualTo(200);
                return !endpointHealthy(proxy, 0);
            });

            try (Gunicorn started = blue.start()) {
                // A hundred passing checks would take twenty seconds.
                await().atMost(Duration.ofSeconds(10)).until(() -> endpointHealthy(proxy, 0));
            }
        }
    }

    private static String problem(CanaryProxy proxy, int index) {
        return proxy.status().releases().get("blue").endpoints().get(index).problem();
    }

    private static boolean endpointHealthy(CanaryProxy proxy, int index) {
        return proxy.status().releases().get("blue").endpoints().get(index).healthy();
    }

    /**
     * Connections that fill a listening socket's accept queue, which nobody accepts from: Linux then drops further
     * SYNs, and connects to it time out, as to an overloaded or hung host.
     */
    private static final class Backlog implements AutoCloseable {
        private final List<Socket> sockets = new ArrayList<>();

        static Backlog fill(ServerSocket server) throws IOException {
            Backlog b = new Backlog();
            for (int i = 0; i < 16; i++) {
                Socket s = new Socket();
                try {
                    s.connect(new InetSocketAddress(server.getInetAddress(), server.getLocalPort()), 300);
                    b.sockets.add(s);
                } catch (SocketTimeoutException full) {
                    s.close();
                    return b;
                }
            }
            b.close();
            throw new IllegalStateException("the accept queue of port " + server.getLocalPort() + " never filled");
        }

        @Override
        public void close() throws IOException {
            for (Socket s : sockets) {
                s.close();
            }
        }
    }
}
