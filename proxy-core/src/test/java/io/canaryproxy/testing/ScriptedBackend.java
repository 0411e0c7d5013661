package io.canaryproxy.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A raw upstream on 127.0.0.1 that answers every request head with bytes the test chose, exactly as given: for
 * tests of how the proxy relays responses, including responses no real server would send.
 *
 * <pre>{@code
 * try (ScriptedBackend backend = new ScriptedBackend()) {
 *   backend.on("/a", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
 *   backend.on("/b", Reply.of("HTTP/1.1 200 OK\r\n\r\nuntil close").oneByteAtATime().thenClose());
 *   ... proxy with endpoint backend.endpoint() ...
 *   assertThat(backend.connections()).isEqualTo(1);
 * }
 * }</pre>
 *
 * <p>One thread per connection reads request heads (up to the empty line; requests must have no body), records
 * each, and writes the reply scripted for its path (the request target without the query): replies given for a
 * path are used in order and the last one repeats. Unscripted paths get {@link #otherwise(Reply)}, by default an
 * empty 404. A reply may be written in pieces with a flush (and optionally a pause, or a wait for a latch) between
 * them, and may close the connection after it: then the backend half-closes (FIN, so the bytes already sent are
 * not lost to a reset), reads on until the proxy closes too, and answers nothing more on that connection.
 *
 * <p>A request is recorded and counted before its reply is written, and a connection is counted as soon as it is
 * accepted: once the client has the proxy's answer, the counts include that request and its connection.
 */
public final class ScriptedBackend implements AutoCloseable {

    private static final int MAX_HEAD = 64 * 1024;
    private static final Duration HOLD_LIMIT = Duration.ofSeconds(10);
    private static final Reply NOT_FOUND = Reply.of("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");

    /**
     * One request head as received.
     *
     * @param connection which connection it came on: 1 for the first one accepted, 2 for the next, ...
     * @param sequence   1 for the first request the backend received, 2 for the next, ...
     * @param head       the head, from the request line up to and including the empty line
     */
    public record Request(int connection, int sequence, String head) {

        public String requestLine() {
            int end = head.indexOf("\r\n");
            return end < 0 ? head : head.substring(0, end);
        }

        public String method() {
            String line = requestLine();
            int space = line.indexOf(' ');
            return space < 0 ? line : line.substring(0, space);
        }

        /** The request target as sent, with any query. */
        public String target() {
            String[] parts = requestLine().split(" ");
            return parts.length > 1 ? parts[1] : "";
        }

        /** The request target without the query. */
        public String path() {
            String target = target();
            int query = target.indexOf('?');
            return query < 0 ? target : target.substring(0, query);
        }
    }

    /**
     * The bytes to answer one request with and how to write them. Immutable: every method returns a new reply.
     */
    public static final class Reply {

        private final byte[] bytes;
        private final TreeSet<Integer> splits;
        private final Map<Integer, CountDownLatch> holds;
        private final Duration pause;
        private final boolean close;

        private Reply(byte[] bytes, TreeSet<Integer> splits, Map<Integer, CountDownLatch> holds, Duration pause,
                      boolean close) {
            this.bytes = bytes;
            this.splits = splits;
            this.holds = holds;
            this.pause = pause;
            this.close = close;
        }

        /** The reply as ISO-8859-1 bytes, so that any byte value can be written as a char. */
        public static Reply of(String text) {
            return of(text.getBytes(StandardCharsets.ISO_8859_1));
        }

        public static Reply of(byte[] bytes) {
            return new Reply(bytes.clone(), new TreeSet<>(), Map.of(), Duration.ZERO, false);
        }

        /** Written one byte per write, with a flush after each. */
        public Reply oneByteAtATime() {
            return inPiecesOf(1);
        }

        /** Written {@code size} bytes per write, with a flush after each. */
        public Reply inPiecesOf(int size) {
            if (size < 1) {
                throw new IllegalArgumentException("piece size " + size);
            }
            TreeSet<Integer> s = new TreeSet<>(splits);
            for (int offset = size; offset < bytes.length; offset += size) {
                s.add(offset);
            }
            return new Reply(bytes, s, holds, pause, close);
        }

        /** Flushed (and paused, if a pause is set) before each of these offsets. */
        public Reply splitAt(int... offsets) {
            TreeSet<Integer> s = new TreeSet<>(splits);
            for (int offset : offsets) {
                if (offset > 0 && offset < bytes.length) {
                    s.add(offset);
                }
            }
            return new Reply(bytes, s, holds, pause, close);
        }

        /**
         * Flushes the bytes before {@code offset} and writes the rest only once {@code gate} is open (or after 10 s,
         * so that a failing test does not hang): lets a test act between two parts of a response.
         */
        public Reply holdAt(int offset, CountDownLatch gate) {
            if (offset <= 0 || offset >= bytes.length) {
                throw new IllegalArgumentException("offset " + offset + " is not inside the reply");
            }
            Map<Integer, CountDownLatch> h = new HashMap<>(holds);
            h.put(offset, gate);
            TreeSet<Integer> s = new TreeSet<>(splits);
            s.add(offset);
            return new Reply(bytes, s, Map.copyOf(h), pause, close);
        }

        /**
         * Waits this long between two pieces: pacing that makes it likely the proxy reads each piece on its own
         * (a flush alone does not stop the bytes from arriving together). Not a synchronisation: nothing relies on
         * the pause for correctness.
         */
        public Reply pauseBetweenPieces(Duration pause) {
            return new Reply(bytes, splits, holds, pause, close);
        }

        /** Closes the connection after this reply (half-close first), e.g. to delimit a body without a length. */
        public Reply thenClose() {
            return new Reply(bytes, splits, holds, pause, true);
        }

        public boolean closes() {
            return close;
        }

        public byte[] bytes() {
            return bytes.clone();
        }

        /** How many writes the reply takes. */
        public int pieces() {
            return bytes.length == 0 ? 0 : splits.size() + 1;
        }

        void writeTo(OutputStream out) throws IOException {
            int from = 0;
            for (int split : splits) {
                out.write(bytes, from, split - from);
                out.flush();
                CountDownLatch gate = holds.get(split);
                if (gate != null) {
                    try {
                        gate.await(HOLD_LIMIT.toMillis(), TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted while holding a reply", e);
                    }
                } else if (!pause.isZero()) {
                    LockSupport.parkNanos(pause.toNanos());
                }
                from = split;
            }
            out.write(bytes, from, bytes.length - from);
            out.flush();
        }

        @Override
        public String toString() {
            String text = new String(bytes, StandardCharsets.ISO_8859_1);
            return "Reply[" + (text.length() > 120 ? text.substring(0, 120) + "..." : text)
                    + ", pieces=" + pieces() + (close ? ", then close" : "") + "]";
        }
    }

    private final ServerSocket server;
    private final Thread acceptor;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger sequence = new AtomicInteger();
    private final List<Request> received = new CopyOnWriteArrayList<>();
    private final Map<String, Deque<Reply>> script = new TreeMap<>();
    private volatile Reply otherwise = NOT_FOUND;
    private final ConcurrentLinkedQueue<Socket> sockets = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Thread> threads = new ConcurrentLinkedQueue<>();

    /** Listens on a free port of 127.0.0.1 at once. */
    public ScriptedBackend() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(this::acceptLoop, "scripted-backend-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** {@code 127.0.0.1:PORT}, as an endpoint in the config. */
    public String endpoint() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    public int port() {
        return server.getLocalPort();
    }

    // ---------------------------------------------------------------- the script

    /** Answers requests for {@code path} with {@code reply}, written at once, connection kept open. */
    public ScriptedBackend on(String path, String reply) {
        return on(path, Reply.of(reply));
    }

    /**
     * Answers requests for {@code path} (the target without the query) with these replies in turn; the last one
     * answers every further request. Replaces what was scripted for the path before.
     */
    public ScriptedBackend on(String path, Reply... replies) {
        if (replies.length == 0) {
            throw new IllegalArgumentException("no reply for " + path);
        }
        synchronized (script) {
            script.put(path, new ArrayDeque<>(Arrays.asList(replies)));
        }
        return this;
    }

    /** The answer for paths that have no script (default: {@code 404} with an empty body). */
    public ScriptedBackend otherwise(Reply reply) {
        this.otherwise = reply;
        return this;
    }

    private Reply replyFor(Request request) {
        synchronized (script) {
            Deque<Reply> replies = script.get(request.path());
            if (replies == null) {
                return otherwise;
            }
            return replies.size() > 1 ? replies.pollFirst() : replies.peekFirst();
        }
    }

    // ---------------------------------------------------------------- what happened

    /** Connections accepted so far. */
    public int connections() {
        return connections.get();
    }

    /** Connections accepted and not yet closed (by either side). */
    public int openConnections() {
        return open.get();
    }

    /** Request heads received so far, on all connections. */
    public int requests() {
        return received.size();
    }

    /** Every request received so far, in arrival order. */
    public List<Request> received() {
        return List.copyOf(received);
    }

    /** The requests received so far for {@code path} (the target without the query). */
    public List<Request> received(String path) {
        List<Request> matching = new ArrayList<>();
        for (Request r : received) {
            if (r.path().equals(path)) {
                matching.add(r);
            }
        }
        return matching;
    }

    /** The raw request heads received so far, in arrival order. */
    public List<String> requestHeads() {
        return received.stream().map(Request::head).toList();
    }

    // ---------------------------------------------------------------- serving

    private void acceptLoop() {
        while (!server.isClosed()) {
            Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return;
            }
            if (server.isClosed()) {
                // Accepted while close() ran: a closed backend answers nothing.
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
                return;
            }
            int id = connections.incrementAndGet();
            open.incrementAndGet();
            sockets.add(s);
            Thread t = new Thread(() -> serve(s, id), "scripted-backend-conn-" + id);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    private void serve(Socket s, int id) {
        try (s) {
            s.setTcpNoDelay(true);
            InputStream in = new BufferedInputStream(s.getInputStream());
            OutputStream out = s.getOutputStream();
            String head;
            while ((head = readHead(in)) != null) {
                Request request = new Request(id, sequence.incrementAndGet(), head);
                received.add(request);
                Reply reply = replyFor(request);
                reply.writeTo(out);
                if (reply.closes()) {
                    s.shutdownOutput();
                    // Read on (and record what still comes, unanswered) until the proxy closes its side: closing
                    // a socket with unread bytes would send a reset, which can destroy what was sent before.
                    while ((head = readHead(in)) != null) {
                        received.add(new Request(id, sequence.incrementAndGet(), head));
                    }
                    break;
                }
            }
        } catch (IOException ignored) {
            // the proxy closed or reset the connection, or the backend is closing
        } finally {
            open.decrementAndGet();
            sockets.remove(s);
        }
    }

    /** The next request head, or null at the end of the stream (or when the head grows beyond 64 KiB). */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream(256);
        int state = 0;
        int b;
        while ((b = in.read()) != -1) {
            head.write(b);
            // CR LF CR LF ends a head.
            if (b == '\r') {
                state = state == 2 ? 3 : 1;
            } else if (b == '\n' && (state == 1 || state == 3)) {
                state++;
                if (state == 4) {
                    return head.toString(StandardCharsets.ISO_8859_1);
                }
            } else {
                state = 0;
            }
            if (head.size() > MAX_HEAD) {
                return null;
            }
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        try {
            acceptor.join(2000);
            for (Thread t : threads) {
                t.join(2000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
