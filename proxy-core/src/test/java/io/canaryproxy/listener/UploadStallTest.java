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
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
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

    /**
     * A client that leaves in the middle of a Content-Length body: the upstream connection is reset, so that the
     * upstream's read of the rest fails instead of ending early and handing the view part of an upload as all of
     * it. (A backend of plain sockets, to see what arrives: gunicorn turns either into a short read or an error.)
     */
    @Test
    void aClientThatLeavesMidBodyResetsTheUpstreamConnection() throws Exception {
        // Netty's io_uring transport ends a connection with a FIN whatever its SO_LINGER.
        Assumptions.assumeFalse("io_uring".equals(System.getProperty(TestConfigs.TRANSPORT_PROPERTY)),
                "io_uring closes in order");
        try (ServerSocket backend = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + backend.getLocalPort(),
                     "proxy.health-check.interval = 0"))) {
            CompletableFuture<String> seen = CompletableFuture.supplyAsync(() -> {
                try (Socket upstream = backend.accept()) {
                    upstream.setSoTimeout(20_000);
                    InputStream in = upstream.getInputStream();
                    long total = 0;
                    int n;
                    while ((n = in.read(new byte[8192])) > 0) {
                        total += n;
                    }
                    return "end of stream after " + total + " bytes";
                } catch (IOException e) {
                    return e.getMessage();
                }
            });
            try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                OutputStream out = client.getOutputStream();
                out.write(("PUT /doc HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + "x".repeat(300_000))
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
            }

            assertThat(seen.get(20, TimeUnit.SECONDS)).isEqualTo("Connection reset");
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
