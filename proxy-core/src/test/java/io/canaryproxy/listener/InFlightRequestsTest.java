package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.TestConfigs;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What a drain waits for: a release's requests still under way, oldest first, each with where it is. */
class InFlightRequestsTest {

    @Test
    void aReleasesRequestsUnderWayAreListedOldestFirstWithTheirStage() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        String download = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        try (ScriptedBackend blue = new ScriptedBackend()
                     .on("/upload", Reply.of(ok).holdAt(1, never))
                     .on("/report", Reply.of(ok).holdAt(1, never))
                     .on("/export.csv", Reply.of(download + "x".repeat(100)).holdAt(download.length() + 10, never));
             ScriptedBackend green = new ScriptedBackend().on("/other", Reply.of(ok).holdAt(1, never));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["%s"]
                       releases.green.endpoints = ["%s"]
                       routing.stable = blue
                       health-check.interval = 0
                     }
                     """.formatted(blue.endpoint(), green.endpoint())));
             Socket sending = new Socket("127.0.0.1", proxy.listenAddress().getPort());
             Socket waiting = new Socket("127.0.0.1", proxy.listenAddress().getPort());
             Socket receiving = new Socket("127.0.0.1", proxy.listenAddress().getPort());
             Socket onGreen = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            send(sending, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
            await().atMost(Duration.ofSeconds(5)).until(() -> blue.received("/upload").size() == 1);
            send(waiting, "GET /report?token=s3cret HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(5)).until(() -> blue.received("/report").size() == 1);
            send(receiving, "GET /export.csv HTTP/1.1\r\nHost: x\r\n\r\n");
            receiving.setSoTimeout(5000);
            assertThat(receiving.getInputStream().read()).as("the head's first byte").isEqualTo('H');
            send(onGreen, "GET /other HTTP/1.1\r\nHost: x\r\nCookie: cp_release=green\r\n\r\n");
            await().atMost(Duration.ofSeconds(5)).until(() -> green.received("/other").size() == 1);

            List<InFlightRequest> onBlue = proxy.requestsInFlight("blue", 10).get(5, TimeUnit.SECONDS);

            assertThat(onBlue).extracting(r -> r.method() + " " + r.path() + ": " + r.stageText()).containsExactly(
                    "POST /upload: sending its body",
                    "GET /report?…: waiting for the response",
                    "GET /export.csv: receiving the response (200)");
            assertThat(onBlue).extracting(InFlightRequest::client).containsOnly("127.0.0.1");
            assertThat(onBlue.get(0).age()).isGreaterThan(onBlue.get(1).age());
            assertThat(onBlue.get(1).age()).isGreaterThan(onBlue.get(2).age());
            assertThat(proxy.requestsInFlight("blue", 1).get(5, TimeUnit.SECONDS))
                    .extracting(InFlightRequest::path).containsExactly("/upload");
            assertThat(proxy.requestsInFlight("green", 10).get(5, TimeUnit.SECONDS))
                    .extracting(InFlightRequest::path).containsExactly("/other");
            never.countDown();
        } finally {
            never.countDown();
        }
    }

    /** A GET queued for a connection of a busy endpoint has sent all it will: it waits, it is not sending. */
    @Test
    void aGetQueuedForAConnectionIsWaitingForTheResponse() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        String ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        try (ScriptedBackend blue = new ScriptedBackend().on("/busy", Reply.of(ok).holdAt(1, never));
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.single(blue.endpoint(), """
                     proxy.threads = 1
                     proxy.upstream { max-connections = 1, connect-timeout = 10s }
                     """));
             Socket first = new Socket("127.0.0.1", proxy.listenAddress().getPort());
             Socket queued = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            send(first, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(5)).until(() -> blue.received("/busy").size() == 1);
            send(queued, "GET /queued HTTP/1.1\r\nHost: x\r\n\r\n");
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.status().releases().get("blue").inflight() == 2);

            assertThat(proxy.requestsInFlight("blue", 10).get(5, TimeUnit.SECONDS))
                    .extracting(r -> r.path() + ": " + r.stageText())
                    .containsExactly("/busy: waiting for the response", "/queued: waiting for the response");
            never.countDown();
        } finally {
            never.countDown();
        }
    }

    private static void send(Socket socket, String text) throws IOException {
        socket.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
    }
}
