package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A stop that outlasts drain.timeout says which requests it cut, and where each of them was. */
class GracefulStopTest {

    @Test
    void aStopThatRunsOutOfDrainTimeoutNamesEachRequestItCuts() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        String download = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        MeterRegistry registry = new SimpleMeterRegistry();
        try (ScriptedBackend backend = new ScriptedBackend()
                     .on("/report", Reply.of(ok).holdAt(1, never))
                     .on("/upload", Reply.of(ok).holdAt(1, never))
                     .on("/export.csv", Reply.of(download + "x".repeat(100)).holdAt(download.length() + 10, never));
             Captured logged = Captured.from(UpstreamFailureLog.class);
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(),
                     "proxy.drain.timeout = 300ms"), registry)) {
            int port = proxy.listenAddress().getPort();
            try (Socket waiting = new Socket("127.0.0.1", port);
                 Socket sending = new Socket("127.0.0.1", port);
                 Socket receiving = new Socket("127.0.0.1", port)) {
                send(waiting, "GET /report?year=2026 HTTP/1.1\r\nHost: x\r\n\r\n");
                send(sending, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
                send(receiving, "GET /export.csv HTTP/1.1\r\nHost: x\r\n\r\n");
                receiving.setSoTimeout(5000);
                assertThat(receiving.getInputStream().read()).as("the head's first byte").isEqualTo('H');
                await().atMost(Duration.ofSeconds(5)).until(() -> backend.requests() == 3);

                proxy.close();

                await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(logged.messages())
                        .anySatisfy(m -> assertThat(m).startsWith("cut GET /report?… from 127.0.0.1 (release blue):"
                                + " the proxy stopped while its client was waiting for the response, "))
                        .anySatisfy(m -> assertThat(m).startsWith("cut POST /upload from 127.0.0.1 (release blue):"
                                + " the proxy stopped while its client was sending its body, "))
                        .anySatisfy(m -> assertThat(m).startsWith("cut GET /export.csv from 127.0.0.1 (release"
                                + " blue): the proxy stopped while its client was receiving the response (200), "))
                        .filteredOn(m -> m.startsWith("cut ")).hasSize(3)
                        .allSatisfy(m -> assertThat(m).endsWith(" ms after the request came (drain.timeout ran out)")));
                // The proxy's doing, not the clients'.
                assertThat(registry.find("canary.proxy.client.aborted").counters())
                        .allSatisfy(c -> assertThat(c.count()).isZero());
                never.countDown();
            }
        } finally {
            never.countDown();
        }
    }

    /**
     * An upload still arriving when the stop begins is read to its end and answered: the stop lets requests in
     * flight finish, and one whose body the proxy stopped reading would only run out of drain.timeout.
     */
    @Test
    void anUploadInFlightWhenTheStopBeginsIsReadToItsEnd(@TempDir Path dir) throws Exception {
        byte[] body = new byte[16 << 20];
        java.util.Arrays.fill(body, (byte) 'u');
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), "proxy.drain.timeout = 30s"));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body, 0, 1 << 20);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 1);

            CompletableFuture<Void> stopped = CompletableFuture.runAsync(proxy::close);
            await().atMost(Duration.ofSeconds(5)).until(() -> !canConnect(proxy));
            out.write(body, 1 << 20, body.length - (1 << 20));
            out.flush();

            InputStream in = client.getInputStream();
            String head = HttpHeads.read(in);
            assertThat(head).startsWith("HTTP/1.1 200 ").contains("Content-Length: " + body.length);
            assertThat(in.readNBytes(body.length)).isEqualTo(body);
            stopped.get(30, TimeUnit.SECONDS);
        }
    }

    private static boolean canConnect(CanaryProxy proxy) {
        try (Socket probe = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A static file the client is slow to take is cut too, and named like a proxied response. */
    @Test
    void aStaticFileAStopCutsIsNamedToo(@TempDir Path root) throws Exception {
        try (RandomAccessFile big = new RandomAccessFile(root.resolve("backup.tar").toFile(), "rw")) {
            big.setLength(256L * 1024 * 1024); // far more than the socket buffers take
        }
        try (ScriptedBackend backend = new ScriptedBackend();
             Captured logged = Captured.from(UpstreamFailureLog.class);
             Captured stopping = Captured.from(CanaryProxy.class);
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                     proxy.drain.timeout = 300ms
                     proxy.releases.blue.static { prefix = "/static/", root = "%s" }
                     """.formatted(root)));
             Socket reader = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            send(reader, "GET /static/backup.tar HTTP/1.1\r\nHost: x\r\n\r\n");
            reader.setSoTimeout(5000);
            assertThat(reader.getInputStream().read()).as("the head's first byte").isEqualTo('H');
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.status().releases().get("blue").inflight() == 1);

            proxy.close();

            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(logged.messages())
                    .filteredOn(m -> m.startsWith("cut ")).singleElement().satisfies(m -> assertThat(m)
                            .startsWith("cut GET /static/backup.tar from 127.0.0.1 (release blue): the proxy stopped"
                                    + " while its client was receiving a static file, ")
                            .endsWith(" ms after the request came (drain.timeout ran out)")));
            assertThat(stopping.messages()).contains("stopping with 1 request still in flight after 300ms");
        }
    }

    /**
     * A client that connected just before the stop, its request on the way, is served: closing its connection as
     * idle would reset it and lose the request, which a client sends again only on a kept-alive connection. The
     * stop waits for such a first request, a moment at most, and the answer closes the connection.
     */
    @Test
    void aRequestOnAConnectionMadeJustBeforeTheStopIsServed(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             Captured logged = Captured.from(CanaryProxy.class)) {
            CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""));
            try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                client.setSoTimeout(10_000);
                send(client, "GET / HTTP/1.1\r\nHost: x\r\n"); // the rest of the head is on its way

                CompletableFuture<Void> stopped = CompletableFuture.runAsync(proxy::stop);
                await().atMost(Duration.ofSeconds(5)).until(() -> logged.messages().stream()
                        .anyMatch(m -> m.startsWith("stopping: no new connections")));
                await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(1))
                        .until(() -> !stopped.isDone());
                send(client, "\r\n");

                String head = HttpHeads.read(client.getInputStream());
                assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("\r\nConnection: close\r\n");
                stopped.get(10, TimeUnit.SECONDS);
            } finally {
                proxy.close();
            }
        }
    }

    private static void send(Socket socket, String text) throws IOException {
        socket.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
    }
}
