package io.canaryproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Self-test of the test infrastructure against the real Django app under gunicorn. */
class GunicornTest {

  @TempDir
  Path tempDir;

  @Test
  void unixSocketServesTheAppSurvivesHupAndRefusesAfterKill9() throws Exception {
    try (Gunicorn blue = Gunicorn.unixSocket("blue", tempDir).start();
        RawHttpClient client = blue.client()) {
      assertThat(blue.endpoint()).isEqualTo("unix:" + tempDir.toAbsolutePath().resolve("blue.sock"));
      assertThat(blue.workerPids()).hasSize(2);

      RawHttpClient.Response index = client.get("/");
      assertThat(index.status()).isEqualTo(200);
      assertThat(index.bodyText()).isEqualTo("release=blue\n");
      assertThat(index.header("x-release")).isEqualTo("blue");

      byte[] body = new byte[64 * 1024];
      ThreadLocalRandom.current().nextBytes(body);
      RawHttpClient.Response echo = client.post("/echo", body);
      assertThat(echo.status()).isEqualTo(200);
      assertThat(echo.body()).isEqualTo(body);

      RawHttpClient.Response stream = client.get("/stream?chunks=5&size=1000");
      assertThat(stream.status()).isEqualTo(200);
      assertThat(stream.header("Transfer-Encoding")).isEqualTo("chunked");
      assertThat(stream.body()).isEqualTo(expectedStream(5, 1000));
      assertThat(client.connectionsOpened()).as("keep-alive reused the connection").isEqualTo(1);

      Set<Long> before = blue.hup();
      blue.awaitWorkersReplaced();
      assertThat(blue.workerPids()).hasSize(2).doesNotContainAnyElementsOf(before);
      try (RawHttpClient fresh = blue.client()) {
        assertThat(fresh.get("/").bodyText()).isEqualTo("release=blue\n");
      }

      blue.kill9();
      assertThat(blue.isRunning()).isFalse();
      try (RawHttpClient afterKill = blue.client()) {
        assertThatThrownBy(() -> afterKill.get("/")).isInstanceOf(IOException.class)
            .hasMessageContaining("refused");
      }
    }
  }

  @Test
  void tcpServesHeadersEchoAndLoadThenStopsGracefully() throws Exception {
    try (Gunicorn green = Gunicorn.tcp("green").workers(1).start();
        RawHttpClient client = green.client()) {
      assertThat(green.endpoint()).isEqualTo("127.0.0.1:" + green.port());

      RawHttpClient.Response headers = client.get("/headers",
          Map.of("X-Forwarded-For", "203.0.113.7", "X-Request-Id", "abc"));
      assertThat(headers.status()).isEqualTo(200);
      assertThat(headers.bodyText())
          .contains("\"X-Forwarded-For\": \"203.0.113.7\"")
          .contains("\"X-Request-Id\": \"abc\"")
          .contains("\"release\": \"green\"");

      RawHttpClient.Response chunkedEcho = client.send("POST", "/echo",
          Map.of("Transfer-Encoding", "chunked"), "hello".getBytes(StandardCharsets.UTF_8));
      assertThat(chunkedEcho.bodyText()).isEqualTo("hello");

      RawHttpClient.Response closing = client.get("/healthz", Map.of("Connection", "close"));
      assertThat(closing.status()).isEqualTo(200);
      assertThat(client.isClosedByPeer(Duration.ofSeconds(5))).isTrue();
      assertThat(client.get("/healthz").bodyText()).isEqualTo("ok");
      assertThat(client.connectionsOpened()).isEqualTo(2);

      LoadGenerator.Stats stats;
      try (LoadGenerator load =
          LoadGenerator.start((InetSocketAddress) green.address(), 3, 1)) {
        load.awaitSuccesses(200, Duration.ofSeconds(15));
        stats = load.stop();
        assertThat(load.lastRequestAnsweredBy("green")).isPresent();
        assertThat(load.lastResponseFrom("blue")).isEmpty();
      }
      assertThat(stats.failures()).as("%s", stats).isZero();
      assertThat(stats.postSuccesses()).isPositive();
      assertThat(stats.countsByRelease()).containsOnlyKeys("green");

      green.stop();
      assertThat(green.isRunning()).isFalse();
      try (RawHttpClient afterStop = green.client()) {
        assertThatThrownBy(() -> afterStop.get("/")).isInstanceOf(ConnectException.class);
      }
    }
  }

  private static byte[] expectedStream(int chunks, int size) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int i = 0; i < chunks; i++) {
      byte[] chunk = new byte[size];
      java.util.Arrays.fill(chunk, (byte) ('a' + i % 26));
      out.writeBytes(chunk);
    }
    return out.toByteArray();
  }
}
