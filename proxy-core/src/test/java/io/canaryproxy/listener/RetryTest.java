package io.canaryproxy.listener;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.http.Fault;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which requests that got no response are sent again, and where. A request that met a kept-alive connection the
 * upstream was closing goes again on a new connection; one an endpoint took on a new connection and dropped (its
 * worker crashed or was killed on it) is not sent to that endpoint again, so one bad request costs one worker.
 */
class RetryTest {

    private static final String GET_AND_CLOSE = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    /** Kept-alive upstream connections stay pooled however slowly the test runs (the default is 1 s). */
    private static final String KEEP_IDLE = "pool-idle-timeout = 30s";

    private WireMockServer first;
    private WireMockServer second;

    @BeforeEach
    void startUpstreams() {
        first = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        first.start();
        second = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        second.start();
    }

    @AfterEach
    void stopUpstreams() {
        first.stop();
        second.stop();
    }

    @Test
    void aRequestDroppedOnANewConnectionIsNotSentToThatEndpointAgain() throws Exception {
        first.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(endpoint(first),
                "proxy.upstream.max-retries = 2"))) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(), GET_AND_CLOSE);

            assertThat(r.status()).isEqualTo(502);
            assertThat(first.findAll(getRequestedFor(urlEqualTo("/x")))).hasSize(1);
        }
    }

    /**
     * {@code /warm} leaves a kept-alive connection; the first {@code /x} on it meets a reset, as in the race with an
     * upstream closing an idle connection, and {@code /x} is answered after that.
     */
    private static void closesItsKeptAliveConnectionOnce(WireMockServer upstream) {
        upstream.stubFor(get(urlEqualTo("/warm")).willReturn(aResponse().withStatus(200).withBody("warm")));
        upstream.stubFor(get(urlEqualTo("/x")).inScenario("closing").whenScenarioStateIs(Scenario.STARTED)
                .willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)).willSetStateTo("closed"));
        upstream.stubFor(get(urlEqualTo("/x")).inScenario("closing").whenScenarioStateIs("closed")
                .willReturn(aResponse().withStatus(200).withBody("again")));
    }

    @Test
    void aRequestThatMetAClosingKeptAliveConnectionIsSentAgainOnANewOne() throws Exception {
        closesItsKeptAliveConnectionOnce(first);
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(endpoint(first), "proxy.upstream." + KEEP_IDLE));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // Leaves a kept-alive connection in the pool of this client connection's event loop.
            assertThat(client.get("/warm").status()).isEqualTo(200);

            RawHttpClient.Response r = client.get("/x");

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("again");
            assertThat(first.findAll(getRequestedFor(urlEqualTo("/x")))).hasSize(2);
        }
    }

    /**
     * A PUT whose body is larger than the proxy keeps could not be sent again if a kept-alive connection closed
     * under it, as gunicorn closes idle ones when its workers restart: like a POST, it goes on a new connection.
     */
    @Test
    void aPutWithABodyTooLargeToKeepTravelsOnANewConnection() throws Exception {
        try (ScriptedBackend backend = new ScriptedBackend();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(),
                     "proxy.upstream." + KEEP_IDLE));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            backend.on("/warm", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwarm");
            // Answered at its head, the connection then closed: the backend reads no body.
            backend.on("/upload", Reply.of("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").thenClose());
            assertThat(client.get("/warm").status()).isEqualTo(200);

            assertThat(client.send("PUT", "/upload", java.util.Map.of(), new byte[100 * 1024]).status())
                    .isEqualTo(201);

            assertThat(backend.received("/warm")).singleElement().extracting(ScriptedBackend.Request::connection)
                    .isEqualTo(1);
            assertThat(backend.received("/upload")).singleElement().extracting(ScriptedBackend.Request::connection)
                    .as("the kept-alive connection of /warm not used").isEqualTo(2);
        }
    }

    @Test
    void aRequestOneEndpointDroppedGoesToAnotherThatHasNotSeenIt() throws Exception {
        first.stubFor(get(urlPathEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        second.stubFor(get(urlPathEqualTo("/x")).willReturn(aResponse().withStatus(200).withBody("second")));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 2", endpoint(first), endpoint(second)));
             Captured logged = Captured.from(UpstreamFailureLog.class)) {
            for (int i = 0; i < 6; i++) {
                RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                        "GET /x?n=" + i + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.text()).contains("second");
            }
            // Round robin sent some of them to the first endpoint first; each went there once at most.
            List<String> dropped = first.findAll(getRequestedFor(urlPathEqualTo("/x"))).stream()
                    .map(LoggedRequest::getUrl).toList();
            assertThat(dropped).isNotEmpty().doesNotHaveDuplicates();
            assertThat(second.findAll(getRequestedFor(urlPathEqualTo("/x")))).hasSize(6);
            // Served, but a worker went down on each of them: the log says which requests they were.
            assertThat(logged.messages()).hasSize(dropped.size()).allSatisfy(line -> assertThat(line).matches(
                    "retried GET /x\\?… from 127\\.0\\.0\\.1 \\(release blue\\): upstream 127\\.0\\.0\\.1:"
                            + first.port() + " closed without a response: .*; sent to 127\\.0\\.0\\.1:"
                            + second.port()));
        }
    }

    /** The endpoint that refused the connect in between does not make the one that dropped the request new again. */
    @Test
    void aRequestNeverGoesBackToAnEndpointThatDroppedIt(@TempDir Path dir) throws Exception {
        first.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 5, eject-after = 100",
                endpoint(first), "unix:" + dir.resolve("stopped.sock")))) {
            for (int i = 0; i < 2; i++) { // whichever endpoint each starts at
                assertThat(RawExchange.send(proxy.listenAddress(), GET_AND_CLOSE).status()).isEqualTo(502);
            }

            assertThat(first.findAll(getRequestedFor(urlEqualTo("/x")))).hasSize(2);
        }
    }

    /**
     * A drop on a kept-alive connection may be an idle close: the request goes to the same endpoint on a new
     * connection, and only a drop there counts against it. Here every endpoint crashes on it: one worker of each,
     * two of the one whose kept-alive connection it met, and then a 502.
     */
    @Test
    void aRequestThatKeepsGettingDroppedCostsOneWorkerPerEndpointAndOneMore() throws Exception {
        for (WireMockServer s : List.of(first, second)) {
            s.stubFor(get(urlEqualTo("/warm")).willReturn(aResponse().withStatus(200).withBody("warm")));
            s.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        }
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 5, " + KEEP_IDLE,
                endpoint(first), endpoint(second)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // One kept-alive connection to each endpoint in this event loop's pools.
            assertThat(client.get("/warm").status()).isEqualTo(200);
            assertThat(client.get("/warm").status()).isEqualTo(200);
            assertThat(first.findAll(getRequestedFor(urlEqualTo("/warm")))).hasSize(1);

            assertThat(client.get("/x").status()).isEqualTo(502);

            assertThat(List.of(first.findAll(getRequestedFor(urlEqualTo("/x"))).size(),
                    second.findAll(getRequestedFor(urlEqualTo("/x"))).size())).containsExactlyInAnyOrder(1, 2);
        }
    }

    /**
     * The idle-close race says nothing of the endpoint, and the other endpoint is down: the request goes again to
     * the one it met the race on.
     */
    @Test
    void aRequestThatMetAClosingKeptAliveConnectionStaysWithItsEndpoint() throws Exception {
        closesItsKeptAliveConnectionOnce(first);
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 2, eject-after = 1, " + KEEP_IDLE,
                "127.0.0.1:" + Ports.unused(), endpoint(first)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // Ejects the stopped endpoint (or leaves it for the next request to) and pools a connection to the other.
            assertThat(client.get("/warm").status()).isEqualTo(200);
            assertThat(client.get("/warm").status()).isEqualTo(200);

            RawHttpClient.Response r = client.get("/x");

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("again");
        }
    }

    /**
     * A request that met its kept-alive connection closing, after a reload took that connection's endpoint out of
     * the release, goes to the release as it is now: the old gunicorn may be stopped once nothing uses it.
     */
    @Test
    void aRequestThatMetAClosingKeptAliveConnectionAfterAReloadGoesToTheReleaseAsItIsNow() throws Exception {
        CountDownLatch asked = new CountDownLatch(1);
        CountDownLatch reloaded = new CountDownLatch(1);
        try (ServerSocket old = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             ScriptedBackend replacement = new ScriptedBackend()) {
            replacement.otherwise(Reply.of("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"));
            Thread oldGunicorn = new Thread(() -> {
                try (Socket s = old.accept()) {
                    InputStream in = s.getInputStream();
                    HttpHeads.read(in);
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold"
                            .getBytes(StandardCharsets.US_ASCII));
                    HttpHeads.read(in);
                    asked.countDown();
                    reloaded.await(10, TimeUnit.SECONDS);
                } catch (IOException | InterruptedException e) {
                    // the test fails on what it does not get
                }
                // Closed without an answer, as gunicorn closes a connection it kept idle too long.
            });
            oldGunicorn.start();
            String oldEndpoint = "127.0.0.1:" + old.getLocalPort();
            try (CanaryProxy proxy = CanaryProxy.start(blue(KEEP_IDLE, oldEndpoint));
                 RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                assertThat(client.get("/warm").bodyText()).isEqualTo("old");
                CompletableFuture<RawHttpClient.Response> x = CompletableFuture.supplyAsync(() -> {
                    try {
                        return client.get("/x");
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();

                proxy.reload(blue(KEEP_IDLE, replacement.endpoint()));
                reloaded.countDown();

                assertThat(x.get(10, TimeUnit.SECONDS).bodyText()).isEqualTo("new");
            }
            oldGunicorn.join(10_000);
        }
    }

    /** Refused connects send nothing: they do not use up the retries a request that was sent may have. */
    @Test
    void refusedConnectsDoNotCountAgainstMaxRetries(@TempDir Path dir) throws Exception {
        first.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        second.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withStatus(200).withBody("second")));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 1, eject-after = 100",
                "unix:" + dir.resolve("stopped.sock"), endpoint(first), endpoint(second)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // The stopped endpoint refuses, the first drops the request on a new connection: one send so far, so
            // it may go on to the second.
            for (int i = 0; i < 6; i++) {
                RawHttpClient.Response r = client.get("/x");
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("second");
            }
        }
    }

    @Test
    void bothEndpointsDroppingARequestIsA502AfterOneTryEach() throws Exception {
        first.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        second.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 5", endpoint(first), endpoint(second)))) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(), GET_AND_CLOSE);

            assertThat(r.status()).isEqualTo(502);
            assertThat(first.findAll(getRequestedFor(urlEqualTo("/x")))).hasSize(1);
            assertThat(second.findAll(getRequestedFor(urlEqualTo("/x")))).hasSize(1);
        }
    }

    /** gunicorn stopped: its socket file is gone, and a second connect a moment later fails the same way. */
    @Test
    void aRequestTheOnlyEndpointRefusesIsA502AfterOneConnect(@TempDir Path dir) throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + dir.resolve("stopped.sock"),
                "proxy.upstream.max-retries = 2"), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/").status()).isEqualTo(502);
            assertThat(client.post("/form", "a=1".getBytes(StandardCharsets.US_ASCII)).status()).isEqualTo(502);

            assertThat(retries(registry)).isZero();
        }
    }

    /**
     * A Unix socket whose listen backlog is full (EAGAIN) is busy for a moment, not gone, as while gunicorn replaces
     * its workers: the connect is tried again, max-retries times, where a refused one is not.
     */
    @Test
    void aBusyUnixSocketIsTriedAgain(@TempDir Path dir) throws Exception {
        Path path = dir.resolve("busy.sock");
        MeterRegistry registry = new SimpleMeterRegistry();
        List<SocketChannel> queued = new ArrayList<>();
        try (ServerSocketChannel busy = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            busy.bind(UnixDomainSocketAddress.of(path), 1);
            fillBacklog(path, queued);
            try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + path,
                    "proxy.upstream.max-retries = 2"), registry);
                 RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                assertThat(client.get("/").status()).isEqualTo(502);

                assertThat(retries(registry)).isEqualTo(2);
            }
        } finally {
            for (SocketChannel c : queued) {
                c.close();
            }
        }
    }

    /** Connects to {@code path} until its accept queue is full: the next connect gets EAGAIN. */
    private static void fillBacklog(Path path, List<SocketChannel> queued) throws IOException {
        for (int i = 0; i < 64; i++) {
            SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
            c.configureBlocking(false);
            try {
                c.connect(UnixDomainSocketAddress.of(path));
                queued.add(c);
            } catch (IOException full) {
                c.close();
                return;
            }
        }
        throw new IllegalStateException("the accept queue of " + path + " never filled");
    }

    @Test
    void aRequestTriesEachRefusingEndpointOnce(@TempDir Path dir) throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 5, eject-after = 100",
                "unix:" + dir.resolve("a.sock"), "unix:" + dir.resolve("b.sock")), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/").status()).isEqualTo(502);

            assertThat(retries(registry)).as("the second endpoint, after the first").isEqualTo(1);
        }
    }

    @Test
    void aRefusedRequestOfAnyMethodGoesToTheEndpointThatServes(@TempDir Path dir) throws Exception {
        second.stubFor(post(urlEqualTo("/form")).willReturn(aResponse().withStatus(200).withBody("second")));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 0, eject-after = 100",
                "unix:" + dir.resolve("a.sock"), "unix:" + dir.resolve("b.sock"), endpoint(second)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 6; i++) {
                RawHttpClient.Response r = client.post("/form", ("a=" + i).getBytes(StandardCharsets.US_ASCII));
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("second");
            }
            assertThat(second.findAll(postRequestedFor(urlEqualTo("/form")))).hasSize(6);
        }
    }

    /**
     * The operator's case: a page that runs past gunicorn's --timeout. gunicorn kills the worker, the proxy answers
     * 502, and no second worker is killed on the same request.
     */
    @Test
    void aRequestGunicornKilledForItsTimeoutCostsOneWorker() throws Exception {
        // --preload: the workers fork with Django loaded, so a busy machine cannot make a worker miss the
        // timeout while it boots, and every WORKER TIMEOUT in the log is the slow request's.
        try (Gunicorn blue = Gunicorn.tcp("blue").workers(3).threads(1)
                .args("--worker-class", "sync", "--timeout", "3", "--preload").start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), """
                     proxy.upstream { max-retries = 2, response-timeout = 30s }
                     """))) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                    "GET /slow?ms=20000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

            assertThat(r.status()).isEqualTo(502);
            // The master logs each kill before it sends the signal, so the count is complete once the 502 is in.
            assertThat(workerTimeouts(blue)).isEqualTo(1);
            assertThat(blue.client().get("/").status()).isEqualTo(200);
        }
    }

    private static long workerTimeouts(Gunicorn g) throws Exception {
        return Pattern.compile("WORKER TIMEOUT").matcher(Files.readString(g.logFile())).results().count();
    }

    /**
     * A send on a kept-alive connection that met an idle close does not count: the endpoint then crashing the
     * request on a new connection leaves max-retries = 1 for the other endpoint.
     */
    @Test
    void theIdleCloseRaceDoesNotUseUpARetry() throws Exception {
        for (WireMockServer s : List.of(first, second)) {
            s.stubFor(get(urlEqualTo("/warm")).willReturn(aResponse().withStatus(200).withBody("warm")));
        }
        first.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        second.stubFor(get(urlEqualTo("/x")).willReturn(aResponse().withStatus(200).withBody("second")));
        try (CanaryProxy proxy = CanaryProxy.start(blue("max-retries = 1, " + KEEP_IDLE,
                endpoint(first), endpoint(second)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // One kept-alive connection to each endpoint in this event loop's pools.
            assertThat(client.get("/warm").status()).isEqualTo(200);
            assertThat(client.get("/warm").status()).isEqualTo(200);

            // The round robin starts one of the two at the first endpoint, on its kept-alive connection.
            for (int i = 0; i < 2; i++) {
                RawHttpClient.Response r = client.get("/x");
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("second");
            }
            assertThat(first.findAll(getRequestedFor(urlEqualTo("/x")))).as("kept-alive, then new")
                    .hasSizeGreaterThanOrEqualTo(2);
        }
    }

    /**
     * Release blue on {@code endpoints}, with active health checks off so that only requests move an endpoint's
     * state, and {@code upstream} as the settings of {@code proxy.upstream}.
     */
    private static ProxyConfig blue(String upstream, String... endpoints) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = [%s]
                  routing.stable = blue
                  health-check.interval = 0
                  upstream { %s }
                }
                """.formatted(Stream.of(endpoints).map(e -> '"' + e + '"').collect(Collectors.joining(", ")),
                upstream));
    }

    private static double retries(MeterRegistry registry) {
        return registry.get("canary.proxy.retries").tag("release", "blue").counter().count();
    }

    private static String endpoint(WireMockServer server) {
        return "127.0.0.1:" + server.port();
    }
}
