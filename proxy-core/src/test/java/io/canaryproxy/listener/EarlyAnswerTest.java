package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.TestConfigs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Django view that answers an upload without reading it (a 404, a 403 from a permission check) answers before
 * the body is through the proxy. The client must get that answer, and its connection must go on: closing it with
 * the rest of the upload unread would reset it, and many clients then report the reset, not the answer.
 */
class EarlyAnswerTest {

    @Test
    void anUploadAnsweredBeforeItsEndGetsTheAnswerAndTheConnectionGoesOn(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            String answers = uploadThenRead(proxy, "Content-Type: application/octet-stream\r\n",
                    "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

            assertThat(answers).startsWith("HTTP/1.1 404 ");
            assertThat(answers.indexOf("HTTP/1.1 200 OK")).as(answers).isPositive();
            assertThat(answers).contains("\"path\": \"/headers\"");
        }
    }

    /**
     * gunicorn's default sync worker answers, then closes the connection without reading the rest of the body: the
     * proxy's next write of it fails, and the answer, already on the socket, is still the client's to get.
     */
    @Test
    void anUploadASyncWorkerAnswersWithoutReadingItGetsTheAnswer(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).threads(1).args("--worker-class", "sync").start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            for (int i = 0; i < 5; i++) {
                String answers = uploadThenRead(proxy, "Content-Type: application/octet-stream\r\n",
                        "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

                assertThat(answers).as("upload %d", i).startsWith("HTTP/1.1 404 ");
                assertThat(answers.indexOf("HTTP/1.1 200 OK")).as(answers).isPositive();
            }
        }
    }

    /**
     * An upstream that stops reading an upload and neither answers nor closes (it shut only its reading side): the
     * failed write is not waited out until response-timeout, the request fails at once, as on a close.
     */
    @Test
    void anUpstreamThatStopsReadingWithoutAnsweringFailsTheUploadAtOnce(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("mute.sock");
        CountDownLatch testOver = new CountDownLatch(1);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            CompletableFuture.runAsync(() -> {
                try (SocketChannel held = server.accept()) {
                    held.read(ByteBuffer.allocate(1024)); // the head
                    held.shutdownInput();
                    testOver.await(); // open, and silent
                } catch (IOException | InterruptedException e) {
                    // the test is over
                }
            });
            try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("unix:" + socket,
                    "proxy.upstream.response-timeout = 60s\nproxy.health-check.interval = 0"));
                 Captured logged = Captured.from(UpstreamFailureLog.class)) {
                String answer = uploadThenRead(proxy, "Connection: close\r\n", "");

                assertThat(answer).startsWith("HTTP/1.1 502 ");
                assertThat(logged.messages()).singleElement().asString()
                        .endsWith(" closed without a response: broken pipe");
            }
        } finally {
            testOver.countDown();
        }
    }

    /** The same on a connection the client asked to close: the answer still arrives whole, then the close. */
    @Test
    void anUploadAnsweredBeforeItsEndOnAClosingConnectionGetsTheAnswer(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            String answer = uploadThenRead(proxy, "Connection: close\r\n", "");

            assertThat(answer).startsWith("HTTP/1.1 404 ").contains("Connection: close");
        }
    }

    /**
     * An upload that also asks for an upgrade (curl --http2 on plain HTTP sends Upgrade: h2c) and is answered before
     * its end: what comes after its end is the next request, not bytes held for a tunnel that will not open.
     */
    @Test
    void anUploadAskingForAnUpgradeAnsweredBeforeItsEndLetsTheNextRequestThrough(@TempDir Path dir)
            throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""))) {
            String answers = uploadThenRead(proxy,
                    "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
                    "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

            assertThat(answers).startsWith("HTTP/1.1 404 ");
            assertThat(answers.indexOf("HTTP/1.1 200 OK")).as(answers).isPositive();
        }
    }

    /**
     * Sends a 3 MiB upload to a page that does not exist, with {@code headers}, then {@code next}, as a plain client
     * sends them: everything first, reading only afterwards. Returns all that came back until the close.
     */
    private static String uploadThenRead(CanaryProxy proxy, String headers, String next) throws Exception {
        byte[] upload = new byte[3 << 20];
        try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    out.write(("POST /no-such-page HTTP/1.1\r\nHost: x\r\n" + headers
                            + "Content-Length: " + upload.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(upload);
                    out.write(next.getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            String answers = readAll(client.getInputStream());
            sent.get(20, TimeUnit.SECONDS);
            return answers;
        }
    }

    private static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        in.transferTo(all);
        return all.toString(StandardCharsets.ISO_8859_1);
    }
}
