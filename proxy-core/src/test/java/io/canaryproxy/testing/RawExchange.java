package io.canaryproxy.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * Sends hand-written bytes on a fresh connection and reads everything the server sends until it closes the
 * connection (or a read times out). For tests of malformed requests, where a client library would refuse to send.
 */
public final class RawExchange {

    /** What came back: every byte, and whether the server closed the connection. */
    public record Result(String text, boolean closed) {

        /** The status code of the first response, or -1 when nothing came back. */
        public int status() {
            if (!text.startsWith("HTTP/1.")) {
                return -1;
            }
            return Integer.parseInt(text.substring(9, 12));
        }

        /** How many responses came back (counts status lines). */
        public int responses() {
            int n = 0;
            int i = 0;
            while ((i = text.indexOf("HTTP/1.1 ", i)) >= 0) {
                n++;
                i++;
            }
            return n;
        }
    }

    private RawExchange() {
    }

    public static Result send(InetSocketAddress address, String request) throws IOException {
        return send(address, request.getBytes(StandardCharsets.ISO_8859_1), 5000);
    }

    public static Result send(InetSocketAddress address, byte[] request, int readTimeoutMillis) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(address, 2000);
            s.setSoTimeout(readTimeoutMillis);
            s.getOutputStream().write(request);
            s.getOutputStream().flush();
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[8192];
            boolean closed = false;
            try {
                int n;
                while ((n = in.read(buf)) != -1) {
                    received.write(buf, 0, n);
                }
                closed = true;
            } catch (SocketTimeoutException e) {
                closed = false;
            } catch (IOException e) {
                closed = true; // reset by peer counts as closed
            }
            return new Result(received.toString(StandardCharsets.ISO_8859_1), closed);
        }
    }
}
