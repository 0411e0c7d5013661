package io.canaryproxy.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A deliberately small, blocking HTTP/1.1 client for tests.
 *
 * <p>One connection, one request at a time, keep-alive. It never retries and never resends: a
 * request that fails throws (or, for {@link #sendRaw}, returns status -1), the broken connection
 * is dropped, and only the <em>next</em> call opens a new one. That lets a test count every
 * failure exactly. After a response that ends the connection ({@code Connection: close}, HTTP/1.0
 * without keep-alive, body delimited by close) the next call reconnects; {@link
 * #connectionsOpened()} tells how often that happened.
 *
 * <p>Talks TCP ({@link InetSocketAddress}, over a plain {@link Socket}) or Unix domain sockets
 * ({@link UnixDomainSocketAddress}). Not thread-safe.
 */
public final class RawHttpClient implements AutoCloseable {

  private static final int MAX_LINE = 64 * 1024;
  private static final byte[] CRLF = {'\r', '\n'};

  /**
   * One HTTP response. {@code status} is -1 when the connection was closed without any response
   * byte ({@link #sendRaw} only). Header lookup through {@link #headers()} is case-insensitive.
   */
  public record Response(int status, Map<String, List<String>> headers, byte[] body) {

    static final Response CLOSED = new Response(-1, Map.of(), new byte[0]);

    /** First value of the header, or null. Case-insensitive. */
    public String header(String name) {
      List<String> values = headers.get(name);
      return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** All values of the header in arrival order (empty if absent). Case-insensitive. */
    public List<String> headerValues(String name) {
      return headers.getOrDefault(name, List.of());
    }

    public String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }

    /** True when the connection was closed without a response (status -1). */
    public boolean closedWithoutResponse() {
      return status == -1;
    }

    @Override
    public String toString() {
      String text = bodyText();
      return "Response[status=" + status + ", headers=" + headers + ", body(" + body.length + ")="
          + (text.length() > 200 ? text.substring(0, 200) + "..." : text) + "]";
    }
  }

  private final SocketAddress address;
  private Duration readTimeout = Duration.ofSeconds(30);
  private Duration connectTimeout = Duration.ofSeconds(5);
  private String hostHeader;

  private Connection connection;
  private boolean reconnectBeforeNextRequest;
  private boolean peerClosed;
  private int connectionsOpened;

  /** A client for an {@link InetSocketAddress} (TCP) or a {@link UnixDomainSocketAddress}. */
  public RawHttpClient(SocketAddress address) {
    if (!(address instanceof InetSocketAddress) && !(address instanceof UnixDomainSocketAddress)) {
      throw new IllegalArgumentException("unsupported address type: " + address);
    }
    this.address = address;
    this.hostHeader = address instanceof InetSocketAddress inet
        ? inet.getHostString() + ":" + inet.getPort()
        : "localhost";
  }

  /** A client for an endpoint string as used in the config: {@code unix:/path} or {@code host:port}. */
  public static RawHttpClient to(String endpoint) {
    return new RawHttpClient(parseEndpoint(endpoint));
  }

  /** Parses {@code unix:/path} or {@code host:port} into a socket address. */
  public static SocketAddress parseEndpoint(String endpoint) {
    if (endpoint.startsWith("unix:")) {
      return UnixDomainSocketAddress.of(endpoint.substring("unix:".length()));
    }
    int colon = endpoint.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("not host:port or unix:/path: " + endpoint);
    }
    String host = endpoint.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new InetSocketAddress(host, Integer.parseInt(endpoint.substring(colon + 1)));
  }

  /** How long one read may block (default 30 s); a timeout throws {@link SocketTimeoutException}. */
  public RawHttpClient readTimeout(Duration timeout) {
    this.readTimeout = timeout;
    if (connection != null) {
      connection.setReadTimeout(timeoutMillis(timeout));
    }
    return this;
  }

  public RawHttpClient connectTimeout(Duration timeout) {
    this.connectTimeout = timeout;
    return this;
  }

  /** The Host header sent when the request headers name none (default: the address). */
  public RawHttpClient hostHeader(String host) {
    this.hostHeader = host;
    return this;
  }

  public SocketAddress address() {
    return address;
  }

  public Response get(String path) throws IOException {
    return send("GET", path, Map.of(), null);
  }

  public Response get(String path, Map<String, String> headers) throws IOException {
    return send("GET", path, headers, null);
  }

  public Response post(String path, byte[] body) throws IOException {
    return send("POST", path, Map.of(), body);
  }

  /**
   * Sends one request and reads its response (interim 1xx responses other than 101 are skipped).
   *
   * <p>Adds {@code Host} and {@code Content-Length} unless {@code headers} name them. With a
   * {@code Transfer-Encoding: chunked} header the body is sent as one chunk plus the last chunk.
   * With {@code Expect: 100-continue} the body is sent only after a 100 response; a final response
   * instead of 100 is returned as is (and the connection is dropped afterwards). {@code body} may be
   * null (no body; POST/PUT/PATCH then send {@code Content-Length: 0}).
   *
   * @throws IOException on any I/O error or malformed response; the connection is then dropped and
   *     the request is <em>not</em> retried
   */
  public Response send(String method, String path, Map<String, String> headers, byte[] body)
      throws IOException {
    Map<String, String> lower = new LinkedHashMap<>();
    headers.forEach((k, v) -> lower.put(k.toLowerCase(Locale.ROOT), v));

    ByteArrayOutputStream head = new ByteArrayOutputStream(256);
    writeAscii(head, method + " " + path + " HTTP/1.1\r\n");
    if (!lower.containsKey("host")) {
      writeAscii(head, "Host: " + hostHeader + "\r\n");
    }
    for (Map.Entry<String, String> h : headers.entrySet()) {
      writeAscii(head, h.getKey() + ": " + h.getValue() + "\r\n");
    }
    boolean chunked = lower.getOrDefault("transfer-encoding", "").toLowerCase(Locale.ROOT)
        .endsWith("chunked");
    boolean framed = chunked || lower.containsKey("content-length")
        || lower.containsKey("transfer-encoding");
    if (!framed && (body != null || method.equals("POST") || method.equals("PUT")
        || method.equals("PATCH"))) {
      writeAscii(head, "Content-Length: " + (body == null ? 0 : body.length) + "\r\n");
    }
    writeAscii(head, "\r\n");

    byte[] payload = body == null ? new byte[0] : body;
    if (chunked) {
      ByteArrayOutputStream c = new ByteArrayOutputStream(payload.length + 32);
      if (payload.length > 0) {
        writeAscii(c, Integer.toHexString(payload.length) + "\r\n");
        c.write(payload);
        c.write(CRLF);
      }
      writeAscii(c, "0\r\n\r\n");
      payload = c.toByteArray();
    }
    boolean expectContinue = "100-continue".equalsIgnoreCase(lower.get("expect"));

    ensureConnected();
    try {
      OutputStream out = connection.out();
      out.write(head.toByteArray());
      if (expectContinue) {
        out.flush();
        Response interim = readOne(method, false, true);
        if (interim.status() != 100) {
          // The body was never sent, so the connection cannot be reused.
          reconnectBeforeNextRequest = true;
          return interim;
        }
      }
      out.write(payload);
      out.flush();
      return readOne(method, false, false);
    } catch (IOException | RuntimeException e) {
      dropConnection();
      throw e;
    }
  }

  /**
   * Writes {@code bytes} unmodified and reads one response. Returns a response with status -1 if
   * the connection is closed (or reset) before any response byte arrives. A failed write (the
   * peer may answer and close before taking all bytes) is ignored in favour of what can be read.
   *
   * @throws SocketTimeoutException if nothing, not even a close, arrives within the read timeout
   */
  public Response sendRaw(byte[] bytes) throws IOException {
    ensureConnected();
    try {
      try {
        connection.out().write(bytes);
        connection.out().flush();
      } catch (IOException writeFailed) {
        // fall through: a response (e.g. 400) may already be in the receive buffer
      }
      // HEAD is not known here; a raw HEAD request must be read with readResponse("HEAD").
      return readOne("GET", true, false);
    } catch (IOException | RuntimeException e) {
      dropConnection();
      throw e;
    }
  }

  /**
   * Reads the next response on the current connection, e.g. the second answer to pipelined raw
   * requests. {@code requestMethod} decides whether a body follows (HEAD: none). Returns status -1
   * if the connection closes first.
   */
  public Response readResponse(String requestMethod) throws IOException {
    if (connection == null) {
      return Response.CLOSED;
    }
    try {
      return readOne(requestMethod, true, false);
    } catch (IOException | RuntimeException e) {
      dropConnection();
      throw e;
    }
  }

  /**
   * Whether the peer has closed the connection, waiting up to the read timeout for its FIN. True
   * if there is no connection because the peer closed it earlier. Unread data means "not closed"
   * (and stays readable).
   */
  public boolean isClosedByPeer() throws IOException {
    return isClosedByPeer(readTimeout);
  }

  /** As {@link #isClosedByPeer()}, waiting at most {@code wait}. */
  public boolean isClosedByPeer(Duration wait) throws IOException {
    if (connection == null) {
      return peerClosed;
    }
    connection.setReadTimeout(timeoutMillis(wait));
    try {
      InputStream in = connection.in();
      in.mark(1);
      int b = in.read();
      if (b < 0) {
        peerClosed = true;
        dropConnection();
        return true;
      }
      in.reset();
      return false;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      // reset by peer
      peerClosed = true;
      dropConnection();
      return true;
    } finally {
      if (connection != null) {
        connection.setReadTimeout(timeoutMillis(readTimeout));
      }
    }
  }

  /** Whether a connection is currently open (it may still have been closed by the peer). */
  public boolean isConnected() {
    return connection != null;
  }

  /** How many connections this client has opened so far. */
  public int connectionsOpened() {
    return connectionsOpened;
  }

  @Override
  public void close() {
    dropConnection();
  }

  // ---------------------------------------------------------------------------------------------

  private void ensureConnected() throws IOException {
    if (connection != null && reconnectBeforeNextRequest) {
      dropConnection();
    }
    if (connection == null) {
      reconnectBeforeNextRequest = false;
      peerClosed = false;
      connection = address instanceof UnixDomainSocketAddress unix
          ? UnixConnection.open(unix, timeoutMillis(readTimeout))
          : TcpConnection.open((InetSocketAddress) address, timeoutMillis(connectTimeout),
              timeoutMillis(readTimeout));
      connectionsOpened++;
    }
  }

  private void dropConnection() {
    if (connection != null) {
      connection.close();
      connection = null;
    }
  }

  private Response readOne(String method, boolean closeIsResponse, boolean returnInterim)
      throws IOException {
    InputStream in = connection.in();
    while (true) {
      int first;
      try {
        in.mark(1);
        first = in.read();
        if (first >= 0) {
          in.reset();
        }
      } catch (SocketTimeoutException e) {
        throw e;
      } catch (IOException e) {
        // reset before any byte of a response
        if (!closeIsResponse) {
          throw e;
        }
        first = -1;
      }
      if (first < 0) {
        peerClosed = true;
        dropConnection();
        if (closeIsResponse) {
          return Response.CLOSED;
        }
        throw new EOFException("connection closed by peer before any response byte");
      }
      String statusLine = requireLine(in);
      String[] parts = statusLine.split(" ", 3);
      if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
        throw new MalformedResponseException("bad status line: " + statusLine);
      }
      int status;
      try {
        status = Integer.parseInt(parts[1]);
      } catch (NumberFormatException e) {
        throw new MalformedResponseException("bad status line: " + statusLine);
      }
      boolean http10 = parts[0].equals("HTTP/1.0");
      Map<String, List<String>> headers = readHeaders(in);

      if (status >= 100 && status < 200 && status != 101) {
        if (returnInterim) {
          return new Response(status, headers, new byte[0]);
        }
        continue;
      }

      String connectionHeader = String.join(",", headers.getOrDefault("Connection", List.of()))
          .toLowerCase(Locale.ROOT);
      boolean close = connectionHeader.contains("close")
          || (http10 && !connectionHeader.contains("keep-alive"));

      byte[] body;
      List<String> te = headers.get("Transfer-Encoding");
      List<String> cl = headers.get("Content-Length");
      if (method.equals("HEAD") || status == 204 || status == 304 || status == 101) {
        body = new byte[0];
      } else if (te != null) {
        String last = te.get(te.size() - 1).toLowerCase(Locale.ROOT).trim();
        if (!last.endsWith("chunked")) {
          body = in.readAllBytes();
          close = true;
        } else {
          body = readChunked(in);
        }
      } else if (cl != null) {
        long length;
        try {
          length = Long.parseLong(cl.get(0).trim());
        } catch (NumberFormatException e) {
          throw new MalformedResponseException("bad Content-Length: " + cl);
        }
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
          throw new MalformedResponseException("bad Content-Length: " + cl);
        }
        body = readExactly(in, (int) length);
      } else {
        body = in.readAllBytes();
        close = true;
      }
      if (close) {
        reconnectBeforeNextRequest = true;
      }
      return new Response(status, Collections.unmodifiableMap(headers), body);
    }
  }

  private static Map<String, List<String>> readHeaders(InputStream in) throws IOException {
    Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    String line;
    while (!(line = requireLine(in)).isEmpty()) {
      int colon = line.indexOf(':');
      if (colon <= 0) {
        throw new MalformedResponseException("bad header line: " + line);
      }
      String name = line.substring(0, colon).trim();
      String value = line.substring(colon + 1).trim();
      headers.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
    }
    headers.replaceAll((k, v) -> List.copyOf(v));
    return headers;
  }

  private static byte[] readChunked(InputStream in) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    while (true) {
      String sizeLine = requireLine(in);
      int semicolon = sizeLine.indexOf(';');
      String hex = (semicolon >= 0 ? sizeLine.substring(0, semicolon) : sizeLine).trim();
      int size;
      try {
        size = Integer.parseInt(hex, 16);
      } catch (NumberFormatException e) {
        throw new MalformedResponseException("bad chunk size line: " + sizeLine);
      }
      if (size < 0) {
        throw new MalformedResponseException("bad chunk size line: " + sizeLine);
      }
      if (size == 0) {
        // trailer section, ended by an empty line
        while (!requireLine(in).isEmpty()) {
          // trailers are not needed by the tests
        }
        return body.toByteArray();
      }
      body.write(readExactly(in, size));
      if (!requireLine(in).isEmpty()) {
        throw new MalformedResponseException("chunk not followed by CRLF");
      }
    }
  }

  private static byte[] readExactly(InputStream in, int length) throws IOException {
    byte[] data = in.readNBytes(length);
    if (data.length < length) {
      throw new EOFException("connection closed after " + data.length + " of " + length
          + " body bytes");
    }
    return data;
  }

  private static String requireLine(InputStream in) throws IOException {
    String line = readLine(in, false);
    if (line == null) {
      throw new EOFException("connection closed in the middle of a response");
    }
    return line;
  }

  /** Reads a line ended by LF (a preceding CR is dropped); null on EOF before any byte if allowed. */
  private static String readLine(InputStream in, boolean nullOnCleanEof) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream(64);
    while (true) {
      int b = in.read();
      if (b < 0) {
        if (line.size() == 0 && nullOnCleanEof) {
          return null;
        }
        throw new EOFException("connection closed in the middle of a line: "
            + line.toString(StandardCharsets.ISO_8859_1));
      }
      if (b == '\n') {
        byte[] bytes = line.toByteArray();
        int len = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1
            : bytes.length;
        return new String(bytes, 0, len, StandardCharsets.ISO_8859_1);
      }
      if (line.size() >= MAX_LINE) {
        throw new MalformedResponseException("line longer than " + MAX_LINE + " bytes");
      }
      line.write(b);
    }
  }

  private static void writeAscii(ByteArrayOutputStream out, String s) {
    out.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
  }

  private static int timeoutMillis(Duration d) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, d.toMillis()));
  }

  /** A response that is not HTTP/1.x as expected. */
  public static final class MalformedResponseException extends IOException {
    public MalformedResponseException(String message) {
      super(message);
    }
  }

  // --- transports ------------------------------------------------------------------------------

  private interface Connection {
    /** Buffered; supports mark/reset. */
    InputStream in();

    OutputStream out();

    void setReadTimeout(int millis);

    void close();
  }

  private static final class TcpConnection implements Connection {
    private final Socket socket;
    private final BufferedInputStream in;
    private final OutputStream out;

    private TcpConnection(Socket socket) throws IOException {
      this.socket = socket;
      this.in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
      this.out = socket.getOutputStream();
    }

    static TcpConnection open(InetSocketAddress address, int connectTimeout, int readTimeout)
        throws IOException {
      Socket socket = new Socket();
      try {
        socket.setTcpNoDelay(true);
        socket.connect(address, connectTimeout);
        socket.setSoTimeout(readTimeout);
        return new TcpConnection(socket);
      } catch (IOException e) {
        socket.close();
        throw e;
      }
    }

    @Override
    public InputStream in() {
      return in;
    }

    @Override
    public OutputStream out() {
      return out;
    }

    @Override
    public void setReadTimeout(int millis) {
      try {
        socket.setSoTimeout(millis);
      } catch (IOException e) {
        // socket already closed; the next read reports it
      }
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // nothing to do
      }
    }
  }

  /**
   * A Unix domain socket channel in non-blocking mode behind blocking streams, so that reads can
   * time out (a blocking {@link SocketChannel} has no read timeout).
   */
  private static final class UnixConnection implements Connection {
    private final SocketChannel channel;
    private final Selector selector;
    private final SelectionKey key;
    private final BufferedInputStream in;
    private final OutputStream out;
    private volatile int readTimeout;

    private UnixConnection(SocketChannel channel, int readTimeout) throws IOException {
      this.channel = channel;
      this.readTimeout = readTimeout;
      channel.configureBlocking(false);
      this.selector = Selector.open();
      this.key = channel.register(selector, 0);
      this.in = new BufferedInputStream(new ChannelIn(), 64 * 1024);
      this.out = new ChannelOut();
    }

    static UnixConnection open(UnixDomainSocketAddress address, int readTimeout)
        throws IOException {
      SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      try {
        channel.connect(address);
        return new UnixConnection(channel, readTimeout);
      } catch (IOException | RuntimeException e) {
        channel.close();
        throw e;
      }
    }

    private void await(int op, int timeoutMillis, String what) throws IOException {
      long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
      key.interestOps(op);
      try {
        while (true) {
          long left = (deadline - System.nanoTime()) / 1_000_000L;
          if (left <= 0) {
            throw new SocketTimeoutException(what + " timed out after " + timeoutMillis + " ms");
          }
          int ready = selector.select(left);
          selector.selectedKeys().clear();
          if (ready > 0) {
            return;
          }
        }
      } finally {
        if (key.isValid()) {
          key.interestOps(0);
        }
      }
    }

    private final class ChannelIn extends InputStream {
      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
          return 0;
        }
        ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
        while (true) {
          int n = channel.read(buffer);
          if (n != 0) {
            return n;
          }
          await(SelectionKey.OP_READ, readTimeout, "read");
        }
      }
    }

    private final class ChannelOut extends OutputStream {
      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
        while (buffer.hasRemaining()) {
          if (channel.write(buffer) == 0) {
            await(SelectionKey.OP_WRITE, Math.max(readTimeout, 1), "write");
          }
        }
      }
    }

    @Override
    public InputStream in() {
      return in;
    }

    @Override
    public OutputStream out() {
      return out;
    }

    @Override
    public void setReadTimeout(int millis) {
      this.readTimeout = millis;
    }

    @Override
    public void close() {
      try {
        selector.close();
      } catch (IOException ignored) {
        // nothing to do
      }
      try {
        channel.close();
      } catch (IOException ignored) {
        // nothing to do
      }
    }
  }
}
