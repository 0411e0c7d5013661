package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import io.netty.util.CharsetUtil;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The request's headers answer every question the way Netty's {@link DefaultHttpHeaders} (as the decoder made them
 * before: unvalidated, since the head's bytes are checked first) answers it for the same header lines: the request
 * decoder, {@code HttpUtil} and the proxy all ask through the {@link HttpHeaders} API.
 */
class RequestHeadersTest {

    private static final String[] NAMES = {"Host", "host", "HOST", "Hos", "Hostt", "Connection", "connection",
        "Cookie", "Upgrade", "Content-Length", "X-N", "X-Short", "Transfer-Encoding", "TE", "X-Empty", "Missing"};
    private static final String[] VALUES = {"keep-alive", "Keep-Alive", "close", "upgrade", "websocket", "chunked",
        "gzip", "", "x=1; y=2", "trailers", "12"};

    static Stream<Arguments> headerSets() {
        return Stream.of(
                Arguments.of("none", new String[] {}),
                Arguments.of("a browser's", new String[] {
                    "Host", "example.com", "Connection", "keep-alive", "Cookie", "x=1; y=2",
                    "Accept", "text/html", "Accept-Encoding", "gzip, br", "User-Agent", "test"}),
                Arguments.of("repeated names in other cases", new String[] {
                    "connection", "Upgrade, Keep-Alive", "Upgrade", "websocket", "CONNECTION", "close",
                    "Host", "a", "host", "b"}),
                Arguments.of("numbers", new String[] {
                    "Content-Length", "12", "content-length", "13", "X-N", "abc", "X-Short", "70000"}),
                Arguments.of("comma lists and empty values", new String[] {
                    "Transfer-Encoding", "gzip, chunked", "transfer-encoding", " chunked ,", "TE", "trailers",
                    "X-Empty", "", "Connection", ",close,"}),
                Arguments.of("bytes from 0x80 around a list element", new String[] {
                    "Connection", "\u00e9close, keep-alive\u00a0", "Upgrade", "websocket\u00ff"}));
    }

    @ParameterizedTest(name = "{0} headers")
    @MethodSource("headerSets")
    void answersLikeNettysHeaders(String description, String[] lines) {
        assertSameAnswers(lines, value -> value);
    }

    /** The same, with the values as the decoder keeps those of a head it parsed itself: views of the head's bytes. */
    @ParameterizedTest(name = "{0} headers")
    @MethodSource("headerSets")
    void answersLikeNettysHeadersWithValuesAsViews(String description, String[] lines) {
        assertSameAnswers(lines, value -> new AsciiString(value.getBytes(CharsetUtil.ISO_8859_1), false));
    }

    /** The same, with the values left in the head's bytes until read, as the head parser leaves them. */
    @ParameterizedTest(name = "{0} headers")
    @MethodSource("headerSets")
    void answersLikeNettysHeadersWithValuesLeftInTheHead(String description, String[] lines) {
        HttpHeaders netty = nettys();
        for (int i = 0; i < lines.length; i += 2) {
            netty.add(lines[i], lines[i + 1]);
        }

        assertSameAnswers(inHead(lines), netty);
    }

    /** Values left in the head go out as their bytes, whether they have been read or not. */
    @ParameterizedTest(name = "{0} headers")
    @MethodSource("headerSets")
    void valuesLeftInTheHeadAreWrittenAsTheyCame(String description, String[] lines) {
        RequestHeaders headers = inHead(lines);
        for (int pass = 0; pass < 2; pass++) {
            // Pass 0 writes values nobody has read; pass 1 the views that reading them made.
            for (int i = 0; i < headers.size(); i++) {
                io.netty.buffer.ByteBuf out = Unpooled.buffer();
                headers.writeValue(i, out);
                assertThat(out.toString(CharsetUtil.ISO_8859_1)).isEqualTo(headers.value(i).toString());
                out.release();
            }
        }
    }

    @Test
    void changesToValuesLeftInTheHeadLeaveTheSameHeadersAsOnNettysHeaders() {
        String[] lines = {"Host", "a", "X-A", "1", "x-a", "2", "Cookie", "c=1", "X-A", "3", "X-Kept", "k"};
        RequestHeaders ours = inHead(lines);
        HttpHeaders netty = nettys();
        for (int i = 0; i < lines.length; i += 2) {
            netty.add(lines[i], lines[i + 1]);
        }
        for (HttpHeaders h : List.of(ours, netty)) {
            // Nothing has been read: the removals move headers whose values are still in the head.
            h.remove("x-a");
            h.set("Cookie", "c=2");
            h.add("X-B", "2");
        }

        assertSameAnswers(ours, netty);

        RequestHeaders original = inHead(lines);
        HttpHeaders copy = original.copy();
        original.remove("Host");
        assertThat(copy.getAll("X-A")).as("a copy keeps its values").containsExactly("1", "2", "3");
        assertThat(copy.get("Host")).isEqualTo("a");
        assertThat(original.get("X-Kept")).isEqualTo("k");
    }

    /** Headers whose values the head parser would leave in one copy of the head's bytes. */
    private static RequestHeaders inHead(String[] lines) {
        StringBuilder text = new StringBuilder("GET / HTTP/1.1\r\n");
        int[] starts = new int[lines.length / 2];
        for (int i = 0; i < lines.length; i += 2) {
            text.append(lines[i]).append(": ");
            starts[i / 2] = text.length();
            text.append(lines[i + 1]).append("\r\n");
        }
        byte[] head = text.append("\r\n").toString().getBytes(CharsetUtil.ISO_8859_1);
        RequestHeaders headers = new RequestHeaders();
        headers.reserve(lines.length / 2);
        for (int i = 0; i < lines.length; i += 2) {
            headers.addFromHead(lines[i], head, starts[i / 2], lines[i + 1].length());
        }
        return headers;
    }

    /** Adds the header lines to ours, each value as {@code ours} makes it, and to Netty's as Strings; compares. */
    private static void assertSameAnswers(String[] lines, Function<String, CharSequence> ours) {
        RequestHeaders headers = new RequestHeaders();
        HttpHeaders netty = nettys();
        for (int i = 0; i < lines.length; i += 2) {
            headers.add(lines[i], ours.apply(lines[i + 1]));
            netty.add(lines[i], lines[i + 1]);
        }

        assertSameAnswers(headers, netty);
    }

    /** The one departure from Netty's headers: RFC 9113 8.2.3 joins cookie crumbs into one Cookie header. */
    @Test
    void aSecondCookieHeaderJoinsTheFirst() {
        RequestHeaders h = new RequestHeaders();
        h.add("Cookie", "a=1").add("Host", "x").add("cookie", "cp_bucket=5; b=2").add("COOKIE", "c=3");

        assertThat(h.getAll("Cookie")).containsExactly("a=1; cp_bucket=5; b=2; c=3");
        assertThat(h.size()).isEqualTo(2);
        assertThat(h.name(0).toString()).isEqualTo("Cookie");

        RequestHeaders empty = new RequestHeaders();
        empty.add("Cookie", "").add("Cookie", "a=1").add("Cookie", "");
        assertThat(empty.getAll("Cookie")).containsExactly("a=1");
    }

    @Test
    void changesLeaveTheSameHeadersAsOnNettysHeaders() {
        RequestHeaders ours = new RequestHeaders();
        HttpHeaders netty = nettys();
        for (HttpHeaders h : List.of(ours, netty)) {
            h.add("Host", "a").add("X-A", "1").add("x-a", "2").add("Cookie", "c=1").add("X-A", "3");
            h.set("x-A", "only");
            h.remove("COOKIE");
            h.add(AsciiString.of("X-B"), List.of("1", "2"));
            h.setInt("Content-Length", 42);
            h.addShort("X-Short", (short) 7);
            h.set(AsciiString.of("Host"), "b");
            h.add("Date", new Date(784111777000L));
        }

        assertSameAnswers(ours, netty);
        assertThat(ours.get("Date")).isEqualTo("Sun, 06 Nov 1994 08:49:37 GMT");
        assertThat(ours.getTimeMillis("date")).isEqualTo(784111777000L);

        ours.clear();
        netty.clear();
        assertSameAnswers(ours, netty);
    }

    @Test
    void keepsArrivalOrderPastItsInitialRoom() {
        RequestHeaders headers = new RequestHeaders();
        for (int i = 0; i < 50; i++) {
            headers.add("X-" + i, Integer.toString(i));
        }

        assertThat(headers.size()).isEqualTo(50);
        for (int i = 0; i < 50; i++) {
            assertThat(headers.name(i).toString()).isEqualTo("X-" + i);
            assertThat(headers.getInt("x-" + i)).isEqualTo(i);
        }
        HttpHeaders copy = headers.copy();
        headers.remove("X-0");
        assertThat(copy.size()).as("a copy is independent").isEqualTo(50);
        assertThat(headers.name(0).toString()).isEqualTo("X-1");
    }

    @Test
    void theDecoderPutsARequestsHeadersHere() {
        EmbeddedChannel channel = new EmbeddedChannel(
                new StrictRequestDecoder(StrictRequestDecoder.config(4096, 8192)));
        channel.writeInbound(Unpooled.copiedBuffer(
                "GET / HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nx-two: 2\r\nCookie: k=v\r\n\r\n", CharsetUtil.US_ASCII));

        HttpRequest request = channel.readInbound();
        assertThat(request.headers()).isInstanceOf(RequestHeaders.class);
        RequestHeaders headers = (RequestHeaders) request.headers();
        assertThat(headers.size()).isEqualTo(4);
        assertThat(headers.name(2).toString()).isEqualTo("x-two");
        assertThat(headers.getAll("X-TWO")).containsExactly("1", "2");
        assertThat(RequestHeaders.of(headers)).isSameAs(headers);
        channel.finishAndReleaseAll();
    }

    private static HttpHeaders nettys() {
        return DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
    }

    private static void assertSameAnswers(HttpHeaders ours, HttpHeaders netty) {
        assertThat(ours.size()).isEqualTo(netty.size());
        assertThat(ours.isEmpty()).isEqualTo(netty.isEmpty());
        assertThat(ours.names()).containsExactlyElementsOf(netty.names());
        assertThat(pairs(ours.iteratorCharSequence())).isEqualTo(pairs(netty.iteratorCharSequence()));
        assertThat(pairs(ours.iterator())).isEqualTo(pairs(netty.iterator()));
        assertThat(RequestHeaders.of(netty).size()).isEqualTo(netty.size());
        for (String name : NAMES) {
            for (CharSequence n : List.of(name, AsciiString.of(name))) {
                assertThat(ours.get(n)).as("get %s", n).isEqualTo(netty.get(n));
                assertThat(ours.getAll(n)).as("getAll %s", n).isEqualTo(netty.getAll(n));
                assertThat(ours.contains(n)).as("contains %s", n).isEqualTo(netty.contains(n));
                assertThat(ours.getInt(n)).as("getInt %s", n).isEqualTo(netty.getInt(n));
                assertThat(ours.getInt(n, -1)).as("getInt %s, -1", n).isEqualTo(netty.getInt(n, -1));
                assertThat(ours.getShort(n)).as("getShort %s", n).isEqualTo(netty.getShort(n));
                for (String value : VALUES) {
                    for (boolean ignoreCase : new boolean[] {true, false}) {
                        assertThat(ours.containsValue(n, value, ignoreCase))
                                .as("containsValue %s %s %s", n, value, ignoreCase)
                                .isEqualTo(netty.containsValue(n, value, ignoreCase));
                        assertThat(ours.contains(n, value, ignoreCase))
                                .as("contains %s %s %s", n, value, ignoreCase)
                                .isEqualTo(netty.contains(n, value, ignoreCase));
                    }
                }
            }
        }
    }

    private static List<String> pairs(
            Iterator<? extends Map.Entry<? extends CharSequence, ? extends CharSequence>> it) {
        List<String> pairs = new ArrayList<>();
        while (it.hasNext()) {
            Map.Entry<? extends CharSequence, ? extends CharSequence> e = it.next();
            pairs.add(e.getKey() + ": " + e.getValue());
        }
        return pairs;
    }
}
