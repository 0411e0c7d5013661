package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMessageDecoderResult;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A head that comes whole is parsed by {@link RequestHeadParser}, one that comes a byte at a time by Netty's decoder:
 * both must give the same requests for the same bytes, and the heads the parser leaves to Netty must be left.
 */
class RequestHeadParserTest {

    private static final int MAX_LINE = 64;
    private static final int MAX_HEADERS = 160;

    @Test
    void aPlainHeadIsParsedInOnePieceWithItsNamesAndValuesAsTheyCame() {
        String head = "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nuser-agent:  curl/8 \t\r\nX-Empty:\r\n"
                + "Accept: */*\r\n\r\n";

        List<String> whole = decode(head, true);

        assertThat(whole).containsExactly("ok GET /a?b=c HTTP/1.1", "Host=example.com", "user-agent=curl/8",
                "X-Empty=", "Accept=*/*", "parsed here", "end");
        assertThat(decode(head, false)).isEqualTo(whole.stream().map(l -> l.equals("parsed here") ? "by netty" : l)
                .toList());
    }

    @Test
    void headsThatFrameABodyOrStrayFromThePlainShapeAreLeftToNetty() {
        for (String head : List.of(
                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                "POST /upload HTTP/1.1\r\nHost: a\r\ntransfer-ENCODING: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key1: 1\r\n"
                        + "Sec-WebSocket-Key2: 2\r\n\r\n12345678",
                "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
                "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
                "GET HTTP/1.1\r\nHost: a\r\n\r\n")) {
            List<String> whole = decode(head, true);
            assertThat(whole).as(head).doesNotContain("parsed here");
            assertThat(whole).as(head).isEqualTo(decode(head, false));
        }
    }

    @Test
    void theSizeLimitsAreNettysToTheByte() {
        String line = "GET /" + "x".repeat(MAX_LINE - 14) + " HTTP/1.1";
        assertThat(line).hasSize(MAX_LINE);
        String atLimit = line + "\r\nHost: a\r\n\r\n";
        String overLimit = "GET /x" + line.substring(5) + "\r\nHost: a\r\n\r\n";

        assertThat(decode(atLimit, true)).contains("parsed here");
        assertThat(decode(overLimit, true)).first().asString().startsWith("failed TooLongHttpLineException");

        String headers = "Host: a\r\nX-Fill: " + "y".repeat(MAX_HEADERS - 7 - 8) + "\r\n";
        assertThat(decode("GET / HTTP/1.1\r\n" + headers + "\r\n", true)).contains("parsed here");
        assertThat(decode("GET / HTTP/1.1\r\n" + headers.replace("X-Fill: ", "X-Fill: y") + "\r\n", true))
                .first().asString().startsWith("failed TooLongHttpHeaderException");
    }

    @Test
    void randomHeadsDecodeAsNettyDecodesThemAndMostArePlain() {
        Random random = new Random(20261203);
        int parsedHere = 0;
        int heads = 3000;
        for (int i = 0; i < heads; i++) {
            String head = randomHead(random);
            List<String> whole = decode(head, true);
            if (whole.contains("parsed here")) {
                parsedHere++;
            }
            List<String> byNetty = decode(head, false);
            whole.removeIf(line -> line.equals("parsed here") || line.equals("by netty"));
            byNetty.removeIf(line -> line.equals("by netty"));
            assertThat(untilFailure(whole)).as(head).isEqualTo(untilFailure(byNetty));
        }
        assertThat(parsedHere).as("heads parsed in one piece").isBetween(heads / 3, heads - heads / 10);
    }

    /**
     * Once Netty's decoder has refused something it is in BAD_MESSAGE and discards every later byte. A refusal that
     * comes as a LastHttpContent (the DefaultFullHttpRequest Netty makes when the request line fails, or the last
     * content of a malformed chunk) must not let the parser frame requests again from wherever the next read begins.
     */
    @Test
    void nothingIsFramedAfterARefusedRequestLine() {
        assertNothingAfter("GET / http/1.1\r\nHost: a\r\n\r\n");
    }

    @Test
    void nothingIsFramedAfterAnOverlongRequestLine() {
        // The bytes are one request whose target contains "GET /admin HTTP/1.1 ...": the read boundary decides.
        assertNothingAfter("GET /" + "a".repeat(2 * MAX_LINE));
    }

    @Test
    void nothingIsFramedAfterAMalformedChunk() {
        assertNothingAfter("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    }

    private static void assertNothingAfter(String refused) {
        String next = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
        for (boolean nextWhole : new boolean[] {false, true}) {
            EmbeddedChannel channel = new EmbeddedChannel(
                    new StrictRequestDecoder(StrictRequestDecoder.config(MAX_LINE, MAX_HEADERS)));
            channel.writeInbound(Unpooled.wrappedBuffer(refused.getBytes(StandardCharsets.ISO_8859_1)));
            boolean failed = false;
            for (Object msg; (msg = channel.readInbound()) != null; ) {
                failed |= ((HttpObject) msg).decoderResult().isFailure();
                ReferenceCountUtil.release(msg);
            }
            assertThat(failed).as("refused: %s", refused).isTrue();
            write(channel, next, nextWhole);
            Object after = channel.readInbound();
            String seen = after instanceof HttpRequest r ? r.method() + " " + r.uri() : String.valueOf(after);
            ReferenceCountUtil.release(after);
            channel.finishAndReleaseAll();
            assertThat(seen).as("after %s, the next head %s", refused, nextWhole ? "in one read" : "a byte at a time")
                    .isEqualTo("null");
        }
    }

    /**
     * The lines up to the first refusal, where the listener closes the connection. Which check refuses a head that
     * breaks two rules may depend on how its bytes arrive (a line too long, a second Host), so only the refusal
     * counts.
     */
    private static List<String> untilFailure(List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("failed ")) {
                List<String> kept = new ArrayList<>(lines.subList(0, i));
                kept.add("failed");
                return kept;
            }
        }
        return lines;
    }

    private static String randomHead(Random random) {
        String[] methods = {"GET", "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "M-X"};
        String[] targets = {"/", "/a/b?c=d&e", "*", "http://h/p", "/caf\u00e9", "/%20", "/a#f", "/x" + "y".repeat(55)};
        String[] names = {"Host", "host", "HOST", "User-Agent", "Accept", "Cookie", "cookie", "X-Custom", "Connection",
            "Content-Length", "Transfer-Encoding", "Sec-WebSocket-Key1", "Sec-WebSocket-Key", "Expect", "X_Under"};
        String[] values = {"a", "", " a", "a ", "\ta\t", "a  b", "x=1; y=2", "\u00e9t\u00e9", "100-continue", "3",
            "chunked", "close, X-Custom", "z".repeat(90)};
        StringBuilder head = new StringBuilder();
        head.append(methods[random.nextInt(methods.length)]).append(' ')
                .append(targets[random.nextInt(targets.length)]).append(' ')
                .append(random.nextInt(10) == 0 ? "HTTP/1.0" : "HTTP/1.1").append("\r\n");
        int count = random.nextInt(5);
        for (int i = 0; i < count; i++) {
            head.append(names[random.nextInt(names.length)]).append(':').append(random.nextBoolean() ? " " : "")
                    .append(values[random.nextInt(values.length)]).append("\r\n");
        }
        head.append("\r\n");
        String lower = head.toString().toLowerCase();
        // Netty cuts a body into pieces as the reads come: only what follows a head without one is compared.
        if (!lower.contains("content-length") && !lower.contains("transfer-encoding") && random.nextInt(4) == 0) {
            head.append("GET /next HTTP/1.1\r\nHost: b\r\n\r\n");
        }
        return head.toString();
    }

    /**
     * What the decoder makes of {@code head}, as lines: the request and its headers, whether the head was parsed
     * here or by Netty's decoder, then the body and the request's end.
     */
    private static List<String> decode(String head, boolean whole) {
        EmbeddedChannel channel = new EmbeddedChannel(
                new StrictRequestDecoder(StrictRequestDecoder.config(MAX_LINE, MAX_HEADERS)));
        write(channel, head, whole);
        List<String> lines = new ArrayList<>();
        StringBuilder body = new StringBuilder();
        for (Object msg; (msg = channel.readInbound()) != null; ) {
            try {
                if (msg instanceof HttpRequest request) {
                    describe(request, lines);
                }
                if (msg instanceof HttpContent content) {
                    body.append(content.content().toString(StandardCharsets.ISO_8859_1));
                }
                if (msg instanceof LastHttpContent) {
                    if (body.length() > 0) {
                        lines.add("body " + body);
                        body.setLength(0);
                    }
                    lines.add("end");
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
        channel.finishAndReleaseAll();
        return lines;
    }

    /** Sends {@code bytes} in one read, or a byte a read so that Netty's decoder is given the head. */
    private static void write(EmbeddedChannel channel, String bytes, boolean whole) {
        byte[] b = bytes.getBytes(StandardCharsets.ISO_8859_1);
        if (whole) {
            channel.writeInbound(Unpooled.wrappedBuffer(b));
            return;
        }
        for (byte one : b) {
            channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {one}));
        }
    }

    private static void describe(HttpRequest request, List<String> lines) {
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            lines.add("failed " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            return;
        }
        lines.add("ok " + request.method() + " " + request.uri() + " " + request.protocolVersion());
        RequestHeaders headers = (RequestHeaders) request.headers();
        for (int i = 0; i < headers.size(); i++) {
            lines.add(headers.name(i) + "=" + headers.value(i));
        }
        // Netty's decoder leaves the line and header sizes in the result; the parser a plain success.
        lines.add(request.decoderResult() instanceof HttpMessageDecoderResult ? "by netty" : "parsed here");
    }
}
