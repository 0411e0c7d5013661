package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client slower than gunicorn (a phone on a bad network, a large download) no longer holds a gunicorn worker
 * for as long as it takes: what it has not taken yet waits in a file, as behind nginx's proxy buffering. Every
 * test runs one sync worker, so a worker held by the slow client would leave every other user waiting.
 */
class ResponseBufferTest {

    /** Far more than the socket buffers between gunicorn and a client that reads nothing can hold. */
    private static final int LARGE = 32 * 1024 * 1024;

    @TempDir
    Path dir;
    private Gunicorn blue;
    private final MeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void startBlue() {
        blue = Gunicorn.unixSocket("blue", dir).workers(1).threads(1).start();
    }

    @AfterEach
    void stopBlue() {
        blue.close();
    }

    private CanaryProxy start(String extra) {
        return CanaryProxy.start(TestConfigs.single(blue.endpoint(),
                "proxy.limits.body-temp-dir = \"" + dir + "\"\n" + extra), registry);
    }

    @Test
    void aSlowDownloadDoesNotHoldTheOnlyWorker() throws Exception {
        try (CanaryProxy proxy = start("");
             Socket phone = slowClient(proxy)) {
            send(phone, "GET /download?bytes=" + LARGE + " HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            await().atMost(Duration.ofSeconds(20)).until(() -> buffered("blue") == 1);

            // Another user is answered by the same worker while the phone has taken almost nothing.
            try (RawHttpClient other = client(proxy)) {
                RawHttpClient.Response page = other.get("/");
                assertThat(page.status()).isEqualTo(200);
                assertThat(page.bodyText()).isEqualTo("release=blue\n");
            }
            // gunicorn is done with it: a drain of blue, before the old gunicorn is stopped, need not wait for the
            // phone (a stop still does: see below).
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 0);
            assertThat(openResponseFiles()).isEqualTo(1);

            InputStream in = phone.getInputStream();
            String head = HttpHeads.read(in);
            assertThat(head).startsWith("HTTP/1.1 200 OK\r\n").contains("\r\nContent-Length: " + LARGE + "\r\n");
            Gunicorn.assertDownload(in.readNBytes(LARGE), LARGE);
            await().atMost(Duration.ofSeconds(5)).until(() -> openResponseFiles() == 0);
            assertThat(counter("canary.proxy.response.buffered.bytes", "blue")).isPositive().isLessThan(LARGE + 1);
            assertThat(counter("canary.proxy.requests", "blue", "status", "2xx")).isEqualTo(2);

            // The connection goes on, for the next request.
            send(phone, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertThat(HttpHeads.read(in)).startsWith("HTTP/1.1 200 OK\r\n");
        }
    }

    /** gunicorn chunks a StreamingHttpResponse; the proxy's own chunks go through the file as well. */
    @Test
    void aStreamedResponseComesThroughTheFileIntact() throws Exception {
        int chunk = 64 * 1024;
        int chunks = LARGE / chunk;
        try (CanaryProxy proxy = start("");
             Socket phone = slowClient(proxy)) {
            send(phone, "GET /stream?chunks=" + chunks + "&size=" + chunk + " HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(20)).until(() -> buffered("blue") == 1);
            try (RawHttpClient other = client(proxy)) {
                assertThat(other.get("/").status()).isEqualTo(200);
            }

            InputStream in = phone.getInputStream();
            assertThat(HttpHeads.read(in)).startsWith("HTTP/1.1 200 OK\r\n").contains("\r\nTransfer-Encoding: chunked\r\n");
            byte[] body = dechunk(in);
            assertThat(body).hasSize(LARGE);
            for (int i = 0; i < LARGE; i++) {
                if (body[i] != (byte) ('a' + (i / chunk) % 26)) {
                    throw new AssertionError("byte " + i + " is " + body[i]);
                }
            }
        }
    }

    @Test
    void aClientThatLeavesLetsGoOfTheFileAndIsCountedOnce() throws Exception {
        try (CanaryProxy proxy = start("")) {
            try (Socket phone = slowClient(proxy)) {
                send(phone, "GET /download?bytes=" + LARGE + " HTTP/1.1\r\nHost: x\r\n\r\n");
                await().atMost(Duration.ofSeconds(20)).until(() -> buffered("blue") == 1);
                try (RawHttpClient other = client(proxy)) {
                    assertThat(other.get("/").status()).isEqualTo(200);
                }
                phone.getInputStream().readNBytes(100_000);
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> openResponseFiles() == 0);
            // The release answered both in full; the download's end was the client's doing, not an error.
            assertThat(counter("canary.proxy.requests", "blue", "status", "2xx")).isEqualTo(2);
            assertThat(counter("canary.proxy.client.aborted", "blue", "stage", "receiving")).isEqualTo(1);
            assertThat(counter("canary.proxy.upstream.errors", "blue", "kind", "reset")).isZero();
        }
    }

    @Test
    void aStopWaitsForTheClientToTakeWhatWasKeptForIt() throws Exception {
        CanaryProxy proxy = start("");
        try (Socket phone = slowClient(proxy)) {
            send(phone, "GET /download?bytes=" + LARGE + " HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(20)).until(() -> buffered("blue") == 1);
            try (RawHttpClient other = client(proxy)) {
                assertThat(other.get("/").status()).isEqualTo(200);
            }
            int port = proxy.listenAddress().getPort();
            Thread stop = new Thread(proxy::close, "stop");
            stop.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> refuses(port));

            InputStream in = phone.getInputStream();
            assertThat(HttpHeads.read(in)).startsWith("HTTP/1.1 200 OK\r\n");
            // All of it, and then the close: the stop ends the connection once its exchange is done.
            assertThat(in.readNBytes(LARGE + 1)).hasSize(LARGE);
            stop.join(10_000);
            assertThat(stop.isAlive()).isFalse();
        } finally {
            proxy.close();
        }
    }

    @Test
    void aClientThatTakesNoneOfItForTheIdleTimeoutIsCut() throws Exception {
        try (Captured logged = Captured.from(ProxyHandler.class);
             CanaryProxy proxy = start("proxy.limits.client-idle-timeout = 2s");
             Socket phone = slowClient(proxy)) {
            send(phone, "GET /download?bytes=" + LARGE + " HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(20)).until(() -> buffered("blue") == 1);
            await().atMost(Duration.ofSeconds(20)).until(() -> openResponseFiles() == 0);
            assertThat(logged.messages()).anySatisfy(m -> assertThat(m).matches(
                    "200 GET /download\\?… \\(release blue\\): client 127\\.0\\.0\\.1 took no more of the response for"
                            + " \\d+ ms; closed before its end"));
        }
    }

    /** A client that keeps up gets large responses straight, on every transport: the disk is for slow ones. */
    @Test
    void aClientThatKeepsUpNeverWaitsOnDisk() throws Exception {
        int size = 8 * 1024 * 1024;
        try (CanaryProxy proxy = start("");
             RawHttpClient fast = client(proxy)) {
            for (int i = 0; i < 10; i++) {
                RawHttpClient.Response download = fast.get("/download?bytes=" + size);
                assertThat(download.status()).isEqualTo(200);
                assertThat(download.body()).hasSize(size);
            }
            // A busy machine may leave the reader off its core for a moment; most downloads must not notice.
            assertThat(buffered("blue")).isLessThan(5);
            assertThat(openResponseFiles()).isZero();
        }
    }

    /** With the buffer off the worker waits for the client, as the proxy did before it had one. */
    @Test
    void withoutABufferTheWorkerWaitsForTheClient() throws Exception {
        try (CanaryProxy proxy = start("proxy.upstream.max-response-buffer = 0");
             Socket phone = slowClient(proxy)) {
            send(phone, "GET /download?bytes=" + LARGE + " HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 1);
            try (RawHttpClient other = client(proxy).readTimeout(Duration.ofSeconds(2))) {
                // the only worker is still writing the download
                assertThatThrownBy(() -> other.get("/")).isInstanceOf(SocketTimeoutException.class);
            }
            assertThat(buffered("blue")).isZero();
            assertThat(openResponseFiles()).isZero();
        }
    }

    // ---------------------------------------------------------------- helpers

    /** A client with a small receive window that reads nothing until the test says so. */
    private static Socket slowClient(CanaryProxy proxy) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(32 * 1024);
        s.connect(new InetSocketAddress("127.0.0.1", proxy.listenAddress().getPort()));
        s.setSoTimeout(20_000);
        return s;
    }

    private static boolean refuses(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private static RawHttpClient client(CanaryProxy proxy) {
        return new RawHttpClient(new InetSocketAddress("127.0.0.1", proxy.listenAddress().getPort()))
                .readTimeout(Duration.ofSeconds(10));
    }

    private static void send(Socket s, String request) throws IOException {
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }

    private double buffered(String release) {
        return counter("canary.proxy.responses.buffered", release);
    }

    private double counter(String name, String release, String... tags) {
        var search = registry.find(name).tag("release", release);
        for (int i = 0; i < tags.length; i += 2) {
            search = search.tag(tags[i], tags[i + 1]);
        }
        var c = search.counter();
        return c == null ? 0 : c.count();
    }

    /** Response files this process holds open (unlinked, so only /proc shows them). */
    private static long openResponseFiles() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().contains("canary-proxy-response-");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }

    private static byte[] dechunk(InputStream in) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String sizeLine = readLine(in);
            int size = Integer.parseInt(sizeLine.trim(), 16);
            if (size == 0) {
                assertThat(readLine(in)).isEmpty();
                return body.toByteArray();
            }
            body.write(in.readNBytes(size));
            assertThat(readLine(in)).isEmpty();
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int b;
        while ((b = in.read()) != '\n') {
            if (b < 0) {
                throw new IOException("closed in a chunk line");
            }
            if (b != '\r') {
                line.append((char) b);
            }
        }
        return line.toString();
    }
}
