package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.TestConfigs;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Clients that hold a connection without finishing a request are cut off, and nothing reaches an upstream. */
class ClientTimeoutsTest {

    private static CountingBackend backend;
    private static CanaryProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = new CountingBackend();
        proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                proxy.limits { header-read-timeout = 300ms, client-idle-timeout = 600ms }
                """));
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        backend.close();
    }

    /** Reads until the proxy closes the connection; returns how long that took. */
    private static long millisUntilClosed(Socket s) throws Exception {
        long start = System.nanoTime();
        s.setSoTimeout(5000);
        InputStream in = s.getInputStream();
        while (in.read() != -1) {
            // drain whatever comes before the close
        }
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }

    @Test
    void aHeadSentTooSlowlyIsCutOffAfterTheHeaderReadTimeout() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            OutputStream out = s.getOutputStream();
            // Slowloris: a request head that never ends, a header line at a time.
            out.write("GET / HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            long millis = millisUntilClosed(s);
            assertThat(millis).isBetween(150L, 3000L);
        }
        assertThat(backend.bytesReceived()).isZero();
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            long millis = millisUntilClosed(s);
            assertThat(millis).isBetween(400L, 3000L);
        }
    }
}
