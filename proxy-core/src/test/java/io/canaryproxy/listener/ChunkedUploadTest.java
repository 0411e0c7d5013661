package io.canaryproxy.listener;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.put;
import static com.github.tomakehurst.wiremock.client.WireMock.putRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.http.Fault;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.NoLeaksExtension;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Chunked uploads to a Django view under gunicorn, through the proxy. gunicorn gives a chunked body no
 * CONTENT_LENGTH and Django reads that many bytes, so sent on chunked a form would arrive empty: the proxy collects
 * the body (in memory up to 64 KiB, in an unlinked file beyond) and sends it with its length.
 */
class ChunkedUploadTest {

    private static final String FORM_HEAD = "POST /form HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
            + "Connection: close\r\n\r\n";
    private static final String ECHO_HEAD = "POST /echo HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

    @Test
    void aChunkedFormReachesTheDjangoViewWhole(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                    FORM_HEAD + "9\r\nuser=bob&\r\nb\r\namount=1000\r\n0\r\n\r\n");

            assertThat(r.status()).as(r.text()).isEqualTo(200);
            assertThat(r.text()).endsWith("\r\n\r\n20 amount=1000,user=bob");
        }
    }

    @Test
    void aChunkedUploadTooLargeForMemoryWaitsOnDiskAndReachesTheDjangoViewWhole(@TempDir Path dir)
            throws Exception {
        Path bodies = Files.createDirectory(dir.resolve("bodies"));
        String blob = "x".repeat(300_000);
        byte[] form = ("user=bob&blob=" + blob).getBytes(StandardCharsets.US_ASCII);
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(),
                     "proxy.limits.body-temp-dir = \"" + bodies + "\""));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            OutputStream out = client.getOutputStream();
            out.write(FORM_HEAD.getBytes(StandardCharsets.US_ASCII));
            writeChunks(out, form, 0, form.length - 10);

            // The body so far is in a file the proxy holds open and already unlinked: nothing to clean up, ever.
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isEqualTo(1));
            assertThat(listed(bodies)).isEmpty();

            writeChunks(out, form, form.length - 10, form.length);
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);

            assertThat(answer).startsWith("HTTP/1.1 200 ");
            assertThat(answer.substring(answer.indexOf("\r\n\r\n") + 4))
                    .isEqualTo(form.length + " blob=" + blob + ",user=bob");
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        }
    }

    @Test
    void aChunkedUploadTheClientAbandonsNeverReachesTheApp(@TempDir Path dir) throws Exception {
        Path bodies = Files.createDirectory(dir.resolve("bodies"));
        byte[] form = ("user=bob&blob=" + "x".repeat(300_000)).getBytes(StandardCharsets.US_ASCII);
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).accessLog(true).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(),
                     "proxy.limits.body-temp-dir = \"" + bodies + "\""))) {
            try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                OutputStream out = client.getOutputStream();
                out.write(FORM_HEAD.getBytes(StandardCharsets.US_ASCII));
                writeChunks(out, form, 0, form.length / 2);
                await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isEqualTo(1));
            }
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());

            RawExchange.Result next = RawExchange.send(proxy.listenAddress(),
                    "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(next.status()).isEqualTo(200);
            await().untilAsserted(() -> assertThat(Files.readString(blue.logFile())).contains("\"GET /headers "));
            assertThat(Files.readString(blue.logFile())).doesNotContain("POST /form");
        }
    }

    @Test
    void aChunkedUploadOverTheBodyLimitGets413AndLeavesNoFileOpen(@TempDir Path dir) throws Exception {
        Path bodies = Files.createDirectory(dir.resolve("bodies"));
        byte[] form = ("blob=" + "x".repeat(300_000)).getBytes(StandardCharsets.US_ASCII);
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(),
                     "proxy.limits { body-temp-dir = \"" + bodies + "\", max-body-size = 200k }"));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            OutputStream out = client.getOutputStream();
            out.write(FORM_HEAD.getBytes(StandardCharsets.US_ASCII));
            try {
                writeChunks(out, form, 0, form.length);
            } catch (IOException refusedMidway) {
                // the proxy answered and closed while the client was still sending
            }
            String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);

            assertThat(answer).startsWith("HTTP/1.1 413 ");
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        }
    }

    /**
     * A body sent as tiny chunks, a few bytes each (and one large chunk amid them), arrives whole, byte for byte, and
     * with its length: below the replay limit it is collected in memory, above it on disk.
     */
    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {40_000, 400_000})
    void aBodyOfTinyChunksReachesTheDjangoViewByteForByteWithItsLength(int length, @TempDir Path dir)
            throws Exception {
        Path bodies = Files.createDirectory(dir.resolve("bodies"));
        byte[] body = new byte[length];
        new Random(length).nextBytes(body);
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(),
                     "proxy.limits.body-temp-dir = \"" + bodies + "\""));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response r = client.sendRaw(tinyChunks(ECHO_HEAD, body));

            assertThat(r.status()).as(r.toString()).isEqualTo(200);
            assertThat(r.header("X-Content-Length")).isEqualTo(Integer.toString(length));
            assertThat(r.body()).isEqualTo(body);
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        }
    }

    /**
     * A client that goes away while its body of tiny chunks is being written to disk: the file closes and the
     * buffers the body was gathered in go back. (No backend: a chunked body goes nowhere before it is whole.)
     */
    @Test
    void anUploadOfTinyChunksAbandonedOnTheWayToDiskLeaksNothing(@TempDir Path bodies) throws Exception {
        byte[] body = new byte[300_000];
        new Random(3).nextBytes(body);
        byte[] wire = tinyChunks(ECHO_HEAD, body);
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + Ports.unused(),
                "proxy.limits.body-temp-dir = \"" + bodies + "\""))) {
            try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                // About half of it: well past the replay limit, with the last bytes still staged.
                client.getOutputStream().write(wire, 0, wire.length / 2 + 1);
                client.getOutputStream().flush();
                await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isEqualTo(1));
            }
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        }
        NoLeaksExtension.assertNoLeaks("an abandoned upload of tiny chunks", leak -> true);
    }

    /**
     * An idempotent request whose kept-alive connection broke before any answer is sent again; a body kept on disk
     * goes again whole. (WireMock, since a real backend does not reset a connection on demand.)
     */
    @Test
    void aRetriedRequestSendsItsBodyFromDiskAgain(@TempDir Path bodies) throws Exception {
        WireMockServer upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(),
                "proxy.limits.body-temp-dir = \"" + bodies + "\"\nproxy.upstream.pool-idle-timeout = 30s"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            upstream.stubFor(get(urlEqualTo("/warm")).willReturn(aResponse().withStatus(200)));
            upstream.stubFor(put(urlEqualTo("/doc")).inScenario("reset once").whenScenarioStateIs(Scenario.STARTED)
                    .willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)).willSetStateTo("reset"));
            upstream.stubFor(put(urlEqualTo("/doc")).inScenario("reset once").whenScenarioStateIs("reset")
                    .willReturn(aResponse().withStatus(204)));
            String doc = "d".repeat(100_000);

            // Leaves a kept-alive upstream connection for the upload to meet.
            assertThat(client.get("/warm").status()).isEqualTo(200);

            RawHttpClient.Response r = client.sendRaw(ascii("PUT /doc HTTP/1.1\r\nHost: x\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(doc.length()) + "\r\n" + doc + "\r\n0\r\n\r\n"));

            assertThat(r.status()).as(r.toString()).isEqualTo(204);
            List<LoggedRequest> seen = upstream.findAll(putRequestedFor(urlEqualTo("/doc")));
            assertThat(seen).hasSize(2).allSatisfy(request -> {
                assertThat(request.getHeader("Content-Length")).isEqualTo("100000");
                assertThat(request.getBodyAsString()).isEqualTo(doc);
            });
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        } finally {
            upstream.stop();
        }
    }

    /** A body kept on disk goes whole to the next endpoint after one took the request and dropped it. */
    @Test
    void aRequestDroppedOnANewConnectionTakesItsBodyFromDiskToTheNextEndpoint(@TempDir Path bodies)
            throws Exception {
        WireMockServer dropping = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        WireMockServer serving = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        dropping.start();
        serving.start();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:%d", "127.0.0.1:%d"]
                  routing.stable = blue
                  health-check.interval = 0
                  limits.body-temp-dir = "%s"
                }
                """.formatted(dropping.port(), serving.port(), bodies)));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            dropping.stubFor(put(urlEqualTo("/doc")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
            serving.stubFor(put(urlEqualTo("/doc")).willReturn(aResponse().withStatus(204)));
            String doc = "d".repeat(100_000);

            // Two, so that the round robin starts one of them at the endpoint that drops it.
            for (int i = 0; i < 2; i++) {
                RawHttpClient.Response r = client.sendRaw(ascii("PUT /doc HTTP/1.1\r\nHost: x\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n"
                        + Integer.toHexString(doc.length()) + "\r\n" + doc + "\r\n0\r\n\r\n"));
                assertThat(r.status()).as(r.toString()).isEqualTo(204);
            }

            assertThat(dropping.findAll(putRequestedFor(urlEqualTo("/doc")))).isNotEmpty();
            assertThat(serving.findAll(putRequestedFor(urlEqualTo("/doc")))).hasSize(2).allSatisfy(request -> {
                assertThat(request.getHeader("Content-Length")).isEqualTo("100000");
                assertThat(request.getBodyAsString()).isEqualTo(doc);
            });
            await().untilAsserted(() -> assertThat(openFilesIn(bodies)).isZero());
        } finally {
            dropping.stop();
            serving.stop();
        }
    }

    /**
     * An upstream that answers before it has read a large body, and then reads no more, does not get the next
     * request on that connection: it would wait behind the rest of the body until its response timeout. (A raw
     * upstream, since gunicorn reads every body to its end before the next request.)
     */
    @Test
    void aConnectionThatAnsweredBeforeTheBodyWasOutIsNotReused(@TempDir Path bodies) throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        try (ServerSocket raw = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + raw.getLocalPort(), """
                     proxy.limits { body-temp-dir = "%s", max-body-size = 64m }
                     proxy.upstream.response-timeout = 5s
                     """.formatted(bodies)));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            Thread upstream = new Thread(() -> {
                try {
                    Socket first = raw.accept();
                    accepted.add(first);
                    HttpHeads.read(first.getInputStream());
                    // Answered at once, keep-alive, and then not another byte read.
                    first.getOutputStream().write(ascii("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
                    Socket second = raw.accept();
                    accepted.add(second);
                    HttpHeads.read(second.getInputStream());
                    second.getOutputStream().write(ascii("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"));
                } catch (IOException closedByTheTest) {
                    // the test is over
                }
            }, "raw-upstream");
            upstream.setDaemon(true);
            upstream.start();
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(ascii("PUT /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
            // More than the socket buffers of the first upstream connection hold.
            byte[] body = new byte[32 << 20];
            writeChunks(out, body, 0, body.length);
            out.write(ascii("0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            out.flush();
            String answers = new String(client.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);

            assertThat(answers).startsWith("HTTP/1.1 201 ").contains("HTTP/1.1 200 OK").endsWith("\r\n\r\nb");
            assertThat(accepted).hasSize(2);
        } finally {
            for (Socket s : accepted) {
                s.close();
            }
        }
    }

    /**
     * {@code head} and then {@code body} as chunks of one to three bytes, with one chunk of up to 100,000 bytes
     * (which the decoder passes on in pieces of at most 64 KiB) in the middle, and the last chunk.
     */
    private static byte[] tinyChunks(String head, byte[] body) {
        ByteArrayOutputStream wire = new ByteArrayOutputStream(head.length() + body.length * 4);
        wire.writeBytes(ascii(head));
        int large = Math.min(100_000, body.length / 2);
        int at = 0;
        for (int i = 0; at < body.length; i++) {
            boolean sendLarge = large > 0 && at >= body.length / 4;
            int n = Math.min(sendLarge ? large : 1 + i % 3, body.length - at);
            if (sendLarge) {
                large = 0;
            }
            wire.writeBytes(ascii(Integer.toHexString(n) + "\r\n"));
            wire.write(body, at, n);
            wire.writeBytes(ascii("\r\n"));
            at += n;
        }
        wire.writeBytes(ascii("0\r\n\r\n"));
        return wire.toByteArray();
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    /** Writes {@code data[from, to)} as chunks of at most 16 KiB. */
    private static void writeChunks(OutputStream out, byte[] data, int from, int to) throws IOException {
        for (int i = from; i < to; i += 16 * 1024) {
            int n = Math.min(16 * 1024, to - i);
            out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(data, i, n);
            out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
        }
        out.flush();
    }

    /** Descriptors this JVM holds open on files in {@code dir}, unlinked ones included. */
    private static long openFilesIn(Path dir) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().startsWith(dir + "/");
                } catch (IOException closedMeanwhile) {
                    return false;
                }
            }).count();
        }
    }

    private static List<Path> listed(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        }
    }
}
