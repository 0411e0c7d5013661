package io.canaryproxy.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The head of an upstream response as the bytes that came in: the status line and the header lines are not turned
 * into strings and header objects, only located and classified, so that the listener can copy the lines a client
 * should see straight into its output buffer. Built by {@link ResponseDecoder}, which fills one instance per
 * connection again for every response: a head is valid only during the {@link UpstreamListener#onResponseHead} call
 * that hands it over.
 */
public final class ResponseHead {

    /** How the body of the response is delimited (RFC 9112 6.3). */
    public enum Framing {
        /** No body: a 1xx, 204 or 304 status, or the answer to a HEAD request. */
        NONE,
        /** Content-Length bytes. */
        LENGTH,
        /** Transfer-Encoding: chunked; the body parts handed on are the chunks' data. */
        CHUNKED,
        /** The upstream closes the connection after the body. */
        UNTIL_CLOSE
    }

    // Header line kinds: what a proxy has to know about a header without reading its value again.
    static final byte OTHER = 0;
    /** Hop-by-hop (RFC 9110 7.6.1): Connection, Keep-Alive, Proxy-Connection, TE, Upgrade, or named in Connection. */
    static final byte HOP_BY_HOP = 1;
    static final byte CONTENT_LENGTH = 2;
    static final byte TRANSFER_ENCODING = 3;
    /** A repeated Content-Length with the same value: dropped, the first one stands for both. */
    static final byte DUPLICATE = 4;

    private static final byte[] HTTP_11 = "HTTP/1.1 ".getBytes(StandardCharsets.US_ASCII);
    private static final short CRLF = '\r' << 8 | '\n';

    /** Per header line: name start, name end (the colon), value start, value end, line end (after its LF). */
    static final int LINE = 5;

    /** The head as received, from the first byte of the status line; owned by the decoder and reused. */
    byte[] bytes;
    int statusStart;
    int statusEnd;
    int status;
    boolean http11;
    boolean keepAlive;
    Framing framing;
    long contentLength;
    /** The length came only as a list of equal values ("42, 42"): the proxy writes the single value itself. */
    boolean lengthAsList;
    boolean dated;
    int count;
    int[] lines = new int[LINE * 16];
    byte[] kinds = new byte[16];

    ResponseHead() {
    }

    void reset(byte[] bytes) {
        this.bytes = bytes;
        count = 0;
        status = 0;
        contentLength = -1;
        lengthAsList = false;
        dated = false;
        keepAlive = false;
        framing = Framing.NONE;
    }

    /** Adds a header line; the offsets index {@link #bytes}, the value is without surrounding whitespace. */
    int addLine(int nameStart, int nameEnd, int valueStart, int valueEnd, int lineEnd) {
        int i = count++;
        if (LINE * count > lines.length) {
            lines = Arrays.copyOf(lines, lines.length * 2);
            kinds = Arrays.copyOf(kinds, kinds.length * 2);
        }
        int o = LINE * i;
        lines[o] = nameStart;
        lines[o + 1] = nameEnd;
        lines[o + 2] = valueStart;
        lines[o + 3] = valueEnd;
        lines[o + 4] = lineEnd;
        kinds[i] = OTHER;
        return i;
    }

    /** The status code. */
    public int status() {
        return status;
    }

    /** Whether the upstream answered with HTTP/1.1 (or a later 1.x) rather than HTTP/1.0. */
    public boolean http11() {
        return http11;
    }

    /** Whether the upstream keeps the connection open after this response (RFC 9112 9.3). */
    public boolean keepAlive() {
        return keepAlive;
    }

    public Framing framing() {
        return framing;
    }

    /** The Content-Length value, or -1 when there is none or Transfer-Encoding overrides it. */
    public long contentLength() {
        return contentLength;
    }

    /**
     * Whether the Content-Length must be written anew: the upstream sent it only as a list of equal values, which
     * RFC 9110 8.6 requires a recipient to reject or to replace with the single value; that line is left out.
     */
    public boolean lengthAsList() {
        return lengthAsList;
    }

    /** Whether the upstream sent a Date header; RFC 9110 6.6.1 has a proxy add one to an answer without. */
    public boolean dated() {
        return dated;
    }

    /** How many header lines the head has. */
    public int headerCount() {
        return count;
    }

    /** Whether header {@code i} is hop-by-hop and so never forwarded as it is. */
    public boolean isHopByHop(int i) {
        return kinds[i] == HOP_BY_HOP || kinds[i] == DUPLICATE;
    }

    /** Whether header {@code i} is Content-Length or Transfer-Encoding: how the body is framed on this hop. */
    public boolean isFraming(int i) {
        return kinds[i] == CONTENT_LENGTH || kinds[i] == TRANSFER_ENCODING || kinds[i] == DUPLICATE;
    }

    /** Whether the name of header {@code i} is {@code name}, ignoring case. */
    public boolean nameIs(int i, AsciiString name) {
        int start = lines[LINE * i];
        int end = lines[LINE * i + 1];
        return end - start == name.length() && ResponseDecoder.equalsIgnoreCase(bytes, start, name);
    }

    /** Which header lines a copy of the head leaves out. */
    @FunctionalInterface
    public interface Omit {
        /** Whether header {@code i} of {@code head} is left out. */
        boolean test(ResponseHead head, int i);
    }

    /**
     * Writes {@code HTTP/1.1}, the status code and reason phrase as received, and the header lines {@code omit}
     * keeps, each as {@code name: value\r\n} with name and value as received. Lines already in that form, as
     * nearly all are, go out in runs: one copy for the status line and every kept line that follows it untouched.
     */
    public void writeHead(ByteBuf out, Omit omit) {
        byte[] b = bytes;
        int runStart;
        int runEnd;
        if (b[7] == '1' && statusEnd - statusStart > 4 && b[statusEnd] == '\r') {
            // "HTTP/1.1 200 OK\r\n" as received is the status line the client gets.
            runStart = 0;
            runEnd = statusEnd + 2;
        } else {
            out.writeBytes(HTTP_11);
            writeStatus(out);
            out.writeShort(CRLF);
            runStart = runEnd = 0;
        }
        int[] l = lines;
        for (int i = 0, n = count; i < n; i++) {
            if (omit.test(this, i)) {
                continue;
            }
            int o = LINE * i;
            int nameStart = l[o];
            int colon = l[o + 1];
            int valueStart = l[o + 2];
            int valueEnd = l[o + 3];
            int lineEnd = l[o + 4];
            boolean asReceived = valueStart == colon + 2 && b[colon + 1] == ' ' && valueEnd + 2 == lineEnd
                    && b[valueEnd] == '\r';
            if (asReceived && nameStart == runEnd) {
                runEnd = lineEnd;
                continue;
            }
            out.writeBytes(b, runStart, runEnd - runStart);
            if (asReceived) {
                runStart = nameStart;
                runEnd = lineEnd;
            } else {
                runStart = runEnd = 0;
                writeField(out, b, nameStart, colon, valueStart, valueEnd);
            }
        }
        out.writeBytes(b, runStart, runEnd - runStart);
    }

    /** Writes a field line as {@code name: value\r\n}, from the name in [nameStart, nameEnd) and the value. */
    static void writeField(ByteBuf out, byte[] b, int nameStart, int nameEnd, int valueStart, int valueEnd) {
        out.writeBytes(b, nameStart, nameEnd - nameStart);
        out.writeShort(':' << 8 | ' ');
        out.writeBytes(b, valueStart, valueEnd - valueStart);
        out.writeShort(CRLF);
    }

    /**
     * Writes the status code and reason phrase as received, e.g. {@code 200 OK}, without the line end; with the
     * space after the code that RFC 9112 4 requires even when the reason is empty.
     */
    private void writeStatus(ByteBuf out) {
        out.writeBytes(bytes, statusStart, statusEnd - statusStart);
        if (statusEnd - statusStart == 3) {
            out.writeByte(' ');
        }
    }

    /** The size of the head as received: an upper bound of what writing it again takes, short of added headers. */
    public int size() {
        return count == 0 ? statusEnd + 16 : lines[LINE * count - 1] + 16 + 2 * count;
    }
}
