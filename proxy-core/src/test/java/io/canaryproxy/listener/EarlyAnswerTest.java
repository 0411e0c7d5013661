package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.TestConfigs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
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
        byte[] upload = new byte[3 << 20];
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            // Sent as a plain client sends it: the whole body, then the next request, reading only afterwards.
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    out.write(("POST /no-such-page HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                            + "Content-Length: " + upload.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(upload);
                    out.write("GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });

            String answers = readAll(client.getInputStream());
            sent.get(20, TimeUnit.SECONDS);

            assertThat(answers).startsWith("HTTP/1.1 404 ");
            assertThat(answers.indexOf("HTTP/1.1 200 OK")).as(answers).isPositive();
            assertThat(answers).contains("\"path\": \"/headers\"");
        }
    }

    /** The same on a connection the client asked to close: the answer still arrives whole, then the close. */
    @Test
    void anUploadAnsweredBeforeItsEndOnAClosingConnectionGetsTheAnswer(@TempDir Path dir) throws Exception {
        byte[] upload = new byte[3 << 20];
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    out.write(("POST /no-such-page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            + "Content-Length: " + upload.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(upload);
                    out.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });

            String answer = readAll(client.getInputStream());
            sent.get(20, TimeUnit.SECONDS);

            assertThat(answer).startsWith("HTTP/1.1 404 ").contains("Connection: close");
        }
    }

    private static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        in.transferTo(all);
        return all.toString(StandardCharsets.ISO_8859_1);
    }
}
