package io.canaryproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** Framing cases of the test client against a hand-written one-connection server. */
class RawHttpClientTest {

  /** Accepts one connection, reads the request head, writes {@code reply}, then closes. */
  private static CompletableFuture<String> serveOnce(ServerSocket server, String reply) {
    return CompletableFuture.supplyAsync(() -> {
      try (Socket socket = server.accept()) {
        String head = readHead(socket.getInputStream());
        socket.getOutputStream().write(reply.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
        return head;
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  private static String readHead(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      head.append((char) b);
    }
    return head.toString();
  }

  private static ServerSocket server() throws IOException {
    return new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
  }

  private static RawHttpClient client(ServerSocket server) {
    return new RawHttpClient(new InetSocketAddress(InetAddress.getLoopbackAddress(),
        server.getLocalPort())).readTimeout(Duration.ofSeconds(5));
  }

  @Test
  void parsesChunkedBodyWithExtensionsAndTrailers() throws Exception {
    try (ServerSocket server = server(); RawHttpClient client = client(server)) {
      CompletableFuture<String> request = serveOnce(server, "HTTP/1.1 200 OK\r\n"
          + "Transfer-Encoding: chunked\r\nX-Release: blue\r\nSet-Cookie: a=1\r\n"
          + "set-cookie: b=2\r\n\r\n"
          + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
      RawHttpClient.Response response = client.get("/x", Map.of("X-Canary", "always"));
      assertThat(response.status()).isEqualTo(200);
      assertThat(response.bodyText()).isEqualTo("hello world");
      assertThat(response.header("X-RELEASE")).isEqualTo("blue");
      assertThat(response.headerValues("Set-Cookie")).containsExactly("a=1", "b=2");
      assertThat(request.get()).startsWith("GET /x HTTP/1.1\r\n").contains("X-Canary: always\r\n")
          .contains("Host: localhost:" + server.getLocalPort() + "\r\n");
    }
  }

  @Test
  void sendRawReportsACloseWithoutResponseAsStatusMinusOne() throws Exception {
    try (ServerSocket server = server(); RawHttpClient client = client(server)) {
      serveOnce(server, "");
      RawHttpClient.Response response =
          client.sendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(response.status()).isEqualTo(-1);
      assertThat(response.closedWithoutResponse()).isTrue();
      assertThat(client.isClosedByPeer()).isTrue();
    }
  }

  @Test
  void sendFailsOnACloseWithoutResponseAndDoesNotRetry() throws Exception {
    try (ServerSocket server = server(); RawHttpClient client = client(server)) {
      serveOnce(server, "");
      assertThatThrownBy(() -> client.get("/")).isInstanceOf(EOFException.class);
      assertThat(client.connectionsOpened()).isEqualTo(1);
      assertThat(client.isConnected()).isFalse();
    }
  }

  @Test
  void truncatedContentLengthBodyIsAnError() throws Exception {
    try (ServerSocket server = server(); RawHttpClient client = client(server)) {
      serveOnce(server, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
      assertThatThrownBy(() -> client.get("/")).isInstanceOf(EOFException.class)
          .hasMessageContaining("5 of 10");
    }
  }

  @Test
  void silentServerTimesOut() throws Exception {
    try (ServerSocket server = server(); RawHttpClient client = client(server)) {
      client.readTimeout(Duration.ofMillis(200));
      CompletableFuture<Socket> accepted = CompletableFuture.supplyAsync(() -> {
        try {
          return server.accept();
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      });
      assertThatThrownBy(() -> client.get("/")).isInstanceOf(SocketTimeoutException.class);
      accepted.get().close();
    }
  }
}
