package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.TestConfigs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An upload that stops is blamed on whoever stopped it: a client that stops sending gets a {@code 408}; a view
 * that does not read the body it was sent (it sleeps, it waits on a lock) is an upstream that does not answer,
 * a {@code 504} with its line in the failure log, as nginx's {@code proxy_send_timeout} gives.
 */
class UploadStallTest {

    private static final String TIMEOUTS = """
            proxy.upstream.response-timeout = 1s
            proxy.limits.client-idle-timeout = 3s
            """;

    @Test
    void aClientThatStopsSendingItsBodyGetsA408(@TempDir Path dir) throws Exception {
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), TIMEOUTS));
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            out.write(("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + "x".repeat(400))
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();

            assertThat(readUntilClosed(client)).startsWith("HTTP/1.1 408 ");
        }
    }

    @Test
    void aViewThatDoesNotReadTheUploadIsA504(@TempDir Path dir) throws Exception {
        byte[] upload = new byte[32 << 20]; // far more than the socket buffers on the way hold
        try (Gunicorn blue = Gunicorn.unixSocket("blue", dir).start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), TIMEOUTS));
             Captured logged = Captured.from(UpstreamFailureLog.class);
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setSoTimeout(20_000);
            OutputStream out = client.getOutputStream();
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                try {
                    out.write(("POST /slow?ms=20000 HTTP/1.1\r\nHost: x\r\nContent-Length: " + upload.length
                            + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(upload);
                    out.flush();
                } catch (IOException closedByTheProxy) {
                    // expected: the proxy answers and closes before the upload is through
                }
            });

            assertThat(readUntilClosed(client)).startsWith("HTTP/1.1 504 ");
            assertThat(logged.messages()).singleElement().asString()
                    .startsWith("504 POST /slow?… from 127.0.0.1 (release blue): unix:")
                    .endsWith("took none of the request body for 1000 ms");
            sending.cancel(true);
        }
    }

    private static String readUntilClosed(Socket client) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        try {
            client.getInputStream().transferTo(all);
        } catch (IOException resetAfterTheAnswer) {
            // what came before the reset is what the client got
        }
        return all.toString(StandardCharsets.ISO_8859_1);
    }
}
