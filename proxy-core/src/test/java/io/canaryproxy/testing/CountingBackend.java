package io.canaryproxy.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A minimal upstream on a plain socket that counts every connection and byte it receives and answers each request
 * head with {@code 200 ok}. Tests use it to prove that a refused request never reached an upstream at all: a real
 * HTTP server might parse smuggled bytes some way of its own, this one simply counts them.
 */
public final class CountingBackend implements AutoCloseable {

    private final ServerSocket server;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicInteger requests = new AtomicInteger();
    private final ConcurrentLinkedQueue<Socket> sockets = new ConcurrentLinkedQueue<>();
    private final Thread acceptor;

    public CountingBackend() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(this::acceptLoop, "counting-backend");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** {@code 127.0.0.1:PORT}, as an endpoint in the config. */
    public String endpoint() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    public int connections() {
        return connections.get();
    }

    public long bytesReceived() {
        return bytes.get();
    }

    /** Request heads seen (bodies are not parsed; tests that count use bodyless requests). */
    public int requests() {
        return requests.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                if (server.isClosed()) {
                    // Accepted while close() ran: a closed backend answers nothing.
                    s.close();
                    return;
                }
                connections.incrementAndGet();
                sockets.add(s);
                Thread t = new Thread(() -> serve(s), "counting-backend-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            int state = 0;
            while ((b = in.read()) != -1) {
                bytes.incrementAndGet();
                head.write(b);
                // Look for CRLFCRLF: the end of a request head.
                state = (b == '\r' && (state == 0 || state == 2)) ? state + 1
                        : (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
                if (state == 4) {
                    state = 0;
                    head.reset();
                    requests.incrementAndGet();
                    out.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
            }
        } catch (IOException ignored) {
            // the proxy closed the connection
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        // A thread blocked in accept() keeps the listening socket open in the kernel until accept() returns: until
        // then connections still complete. Once the acceptor is gone, a connect is refused.
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Socket s : sockets) {
            s.close();
        }
    }
}
