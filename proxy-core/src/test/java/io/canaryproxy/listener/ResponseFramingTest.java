package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.ScriptedBackend.Reply;
import io.canaryproxy.testing.ScriptedBackend.Request;
import io.canaryproxy.testing.TestConfigs;
import io.netty.handler.codec.DateFormatter;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * How upstream responses reach the client, end to end, against a backend that writes exactly the bytes a test
 * chooses (RFC 9112 message framing, RFC 9110 7.6.1 hop-by-hop fields): framing by Content-Length, chunked
 * encoding and close; HEAD, 204 and 304; interim responses; malformed responses; responses split across many
 * reads; and whether the upstream connection is reused afterwards. Each test gets a backend and a proxy of its
 * own, so that connection counts start from zero.
 */
class ResponseFramingTest {

    /** Pacing between single bytes, so that the proxy really gets most of them in reads of their own. */
    private static final Duration BYTE_PACE = Duration.ofNanos(100_000);

    /**
     * The response head limit. There is no {@code proxy.upstream.max-response-header-size} key (yet): the upstream
     * decoder is built with a fixed 64 KiB (Upstreams -> EndpointPool), so the oversized head below is well over that.
     */
    private static final int RESPONSE_HEAD_LIMIT = 64 * 1024;

    private static final String EARLY_HINTS = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
    private static final String FINAL = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal";

    private ScriptedBackend backend;
    private CanaryProxy proxy;

    /** How the backend writes a reply. */
    enum Delivery {
        WHOLE {
            @Override
            Reply apply(Reply reply) {
                return reply;
            }
        },
        ONE_BYTE_AT_A_TIME {
            @Override
            Reply apply(Reply reply) {
                return reply.oneByteAtATime().pauseBetweenPieces(BYTE_PACE);
            }
        };

        abstract Reply apply(Reply reply);
    }

    @BeforeEach
    void start() throws IOException {
        backend = new ScriptedBackend();
        // One event loop: upstream connections are pooled per loop, and with two a second client connection would
        // land on the other loop and get a new upstream connection whether or not the first one was reusable. A long
        // pool idle timeout, so that "reused" never depends on how fast the test runs.
        proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                proxy.threads = 1
                proxy.upstream { response-timeout = 5s, pool-idle-timeout = 30s }
                """));
    }

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    // ---------------------------------------------------------------- 1. Content-Length

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void contentLengthResponseArrivesIntactAndKeepAliveHoldsOnBothSides(Delivery delivery) throws Exception {
        backend.on("/cl", delivery.apply(Reply.of("HTTP/1.1 200 OK\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "ETag: \"v1\"\r\n"
                + "X-Multi: a, b\r\n"
                + "X-Spaces: a  b\r\n"
                + "Content-Length: 11\r\n"
                + "\r\n"
                + "hello world")));

        try (Client client = client()) {
            for (int i = 0; i < 3; i++) {
                Response r = client.exchange("/cl");
                assertThat(r.statusLine()).isEqualTo("HTTP/1.1 200 OK");
                assertThat(r.header("Content-Type")).isEqualTo("text/plain; charset=utf-8");
                assertThat(r.header("ETag")).isEqualTo("\"v1\"");
                assertThat(r.header("X-Multi")).isEqualTo("a, b");
                assertThat(r.header("X-Spaces")).isEqualTo("a  b");
                assertThat(r.headers("Content-Length")).containsExactly("11");
                assertThat(r.headers("Transfer-Encoding")).isEmpty();
                assertThat(r.bodyText()).isEqualTo("hello world");
                assertThat(r.header("Connection")).as("response %d", i + 1).isNotEqualToIgnoringCase("close");
            }
        }
        assertThat(backend.requests()).isEqualTo(3);
        assertThat(backend.connections()).as("upstream connections for 3 sequential requests").isEqualTo(1);
        assertThat(backend.received()).extracting(Request::connection).containsOnly(1);
    }

    @Test
    void consecutiveClientConnectionsShareTheUpstreamConnection() throws Exception {
        // The control for every "not reused" below: when nothing is wrong, a request on a new client connection
        // does ride the pooled upstream connection.
        backend.on("/a", ok("a"));
        backend.on("/b", ok("b"));

        try (Client client = client()) {
            assertThat(client.exchange("/a").bodyText()).isEqualTo("a");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/b").bodyText()).isEqualTo("b");
        }
        assertThat(backend.connections()).as(backendLog()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- 2. chunked, HTTP/1.1 client

    @Test
    void chunkedResponseIsRelayedChunkedToAnHttp11Client() throws Exception {
        backend.on("/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-App: 1\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/chunked");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.chunked()).as("chunked to the client").isTrue();
            assertThat(r.headers("Content-Length")).isEmpty();
            assertThat(r.header("X-App")).isEqualTo("1");
            assertThat(r.bodyText()).isEqualTo("hello world");

            assertThat(client.exchange("/next").bodyText()).as("same client connection").isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    @Test
    void chunkExtensionsAreNotPartOfTheBody() throws Exception {
        backend.on("/ext", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;ext=1\r\nhello\r\n6;name=\"quoted value\"\r\n world\r\n0;last\r\n\r\n");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/ext");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.chunked()).isTrue();
            assertThat(r.bodyText()).isEqualTo("hello world");

            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    @Test
    void whitespaceBeforeAChunkExtensionAndUpperCaseHexAreAccepted() throws Exception {
        backend.on("/ws", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5 \t;ext=1\r\nhello\r\nA\r\n world 123\r\n0\r\n\r\n");

        try (Client client = client()) {
            assertThat(client.exchange("/ws").bodyText()).isEqualTo("hello world 123");
        }
    }

    @ParameterizedTest(name = "[{0}]")
    @ValueSource(strings = {"zz", "10000000000000000", "5 x", ";ext", "5;ext=\u0001"})
    void aBadChunkSizeLineBreaksTheResponse(String line) throws Exception {
        String head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        CountDownLatch headSeen = new CountDownLatch(1);
        backend.on("/broken", Reply.of(head + line + "\r\nworld\r\n0\r\n\r\n").holdAt(head.length(), headSeen));

        try (Client client = client()) {
            client.get("/broken");
            assertThat(client.readHead().status()).isEqualTo(200);
            headSeen.countDown();

            Rest rest = client.readUntilClose();
            assertThat(rest.closed()).as("the proxy closed the client connection").isTrue();
            assertThatThrownBy(() -> decodeChunked(new ByteArrayInputStream(rest.bytes())))
                    .as("what came after the head, %s, as a complete chunked body", rest.text())
                    .isInstanceOf(IOException.class);
        }
    }

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void chunkedResponseWithTrailersLeavesTheConnectionUsable(Delivery delivery) throws Exception {
        backend.on("/trailers", delivery.apply(Reply.of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                + "Trailer: X-Trailer\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/trailers");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.chunked()).isTrue();
            assertThat(r.bodyText()).isEqualTo("hello world");

            Response next = client.exchange("/next");
            assertThat(next.status()).isEqualTo(200);
            assertThat(next.bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- 3. chunked, HTTP/1.0 client

    @Test
    void chunkedResponseToAnHttp10ClientIsDechunkedAndClosed() throws Exception {
        backend.on("/", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");

        try (Client client = client()) {
            client.send("GET / HTTP/1.0\r\n\r\n");
            Response r = client.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Transfer-Encoding")).isEmpty();
            assertThat(r.bodyText()).isEqualTo("hello world");
            if (r.headers("Content-Length").isEmpty()) {
                assertThat(r.closeDelimited()).as("body ended by the close").isTrue();
            } else {
                assertThat(client.closedByProxy()).as("connection closed after the response").isTrue();
            }
        }
    }

    @Test
    void trailersAnnouncedToAnHttp10ClientAreNotPromised() throws Exception {
        backend.on("/", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                + "5\r\nhello\r\n0\r\nX-Checksum: 5d41\r\n\r\n");

        try (Client client = client()) {
            client.send("GET / HTTP/1.0\r\n\r\n");
            Response r = client.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Trailer")).as("an HTTP/1.0 body cannot carry trailers").isEmpty();
            assertThat(r.headers("X-Checksum")).isEmpty();
            assertThat(r.bodyText()).isEqualTo("hello");
        }
    }

    /** RFC 9110 6.6.1: a proxy with a clock dates an answer forwarded without a Date; a dated one keeps its own. */
    @Test
    void anUndatedAnswerGetsADateAndADatedOneKeepsItsOwn() throws Exception {
        backend.on("/undated", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        backend.on("/dated", "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\nok");

        try (Client client = client()) {
            client.send("GET /undated HTTP/1.1\r\nHost: test\r\n\r\n");
            Response undated = client.read();
            assertThat(undated.headers("Date")).singleElement().satisfies(date -> assertThat(
                    DateFormatter.parseHttpDate(date)).isCloseTo(new Date(), 5000));

            client.send("GET /dated HTTP/1.1\r\nHost: test\r\n\r\n");
            assertThat(client.read().headers("Date")).containsExactly("Sun, 06 Nov 1994 08:49:37 GMT");
        }
    }

    /** RFC 9112 6.1: a server must not send Transfer-Encoding to an HTTP/1.0 request, a HEAD's answer included. */
    @Test
    void aHeadAnswerToAnHttp10ClientCarriesNoTransferEncoding() throws Exception {
        backend.on("/", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n\r\n");

        try (Client client = client()) {
            client.send("HEAD / HTTP/1.0\r\n\r\n");
            Response r = client.read("HEAD");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("X-Head")).isEqualTo("1");
            assertThat(r.headers("Transfer-Encoding")).isEmpty();
        }
    }

    // ---------------------------------------------------------------- 4. close-delimited body

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void closeDelimitedBodyIsChunkedForAnHttp11ClientWhoseConnectionStaysOpen(Delivery delivery)
            throws Exception {
        backend.on("/close", delivery.apply(Reply.of("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                + "until the end").thenClose()));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/close");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Transfer-Encoding")).containsExactly("chunked");
            assertThat(r.headers("Content-Length")).isEmpty();
            assertThat(r.bodyText()).isEqualTo("until the end");

            Response next = client.exchange("/next");
            assertThat(next.bodyText()).as("same client connection").isEqualTo("next");
        }
        assertNotReused("/close", "/next");
    }

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void closeDelimitedBodyIsSentRawToAnHttp10ClientAndClosed(Delivery delivery) throws Exception {
        backend.on("/close", delivery.apply(Reply.of("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                + "until the end").thenClose()));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            client.send("GET /close HTTP/1.0\r\n\r\n");
            Response r = client.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Transfer-Encoding")).isEmpty();
            assertThat(r.closeDelimited()).isTrue();
            assertThat(r.bodyText()).isEqualTo("until the end");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertNotReused("/close", "/next");
    }

    // ---------------------------------------------------------------- 5. HEAD

    static Stream<Arguments> headResponses() {
        String withLength = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Head: 1\r\n\r\n";
        String chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n\r\n";
        return Stream.of(
                Arguments.of("Content-Length, pipelined GET", withLength, true),
                Arguments.of("Content-Length, GET after", withLength, false),
                Arguments.of("chunked, pipelined GET", chunked, true),
                Arguments.of("chunked, GET after", chunked, false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("headResponses")
    void headResponseHasNoBodyAndTheNextGetGetsItsOwnAnswer(String name, String headReply, boolean pipelined)
            throws Exception {
        backend.on("/h", headReply);
        backend.on("/g", ok("the get"));
        String head = "HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n";
        String get = "GET /g HTTP/1.1\r\nHost: test\r\n\r\n";

        try (Client client = client()) {
            if (pipelined) {
                client.send(head + get);
            } else {
                client.send(head);
            }
            Response r = client.read("HEAD");
            assertThat(r.status()).isEqualTo(200);
            assertThat(backend.received("/h")).extracting(Request::method).containsExactly("HEAD");
            assertThat(r.header("X-Head")).isEqualTo("1");
            if (headReply.contains("Content-Length")) {
                assertThat(r.headers("Content-Length")).as("kept as is").containsExactly("10");
            }
            if (!pipelined) {
                assertThat(client.available()).as("bytes after the HEAD response").isZero();
                client.send(get);
            }
            // A body or a last chunk after the HEAD response would be read here as the GET's status line.
            Response g = client.read();
            assertThat(g.statusLine()).isEqualTo("HTTP/1.1 200 OK");
            assertThat(g.bodyText()).isEqualTo("the get");
        }
        // Its head ended the HEAD response (or the GET's answer would be late or garbled); the connection is then
        // not reused, since gunicorn may send a body after a HEAD answer.
        assertThat(backend.connections()).isEqualTo(2);
    }

    // ---------------------------------------------------------------- 6. 204 and 304

    static Stream<Arguments> bodylessResponses() {
        String late204 = "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
        return Stream.of(
                Arguments.of("204", 204, Reply.of("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")),
                Arguments.of("204 with a Content-Length it must not have", 204,
                        Reply.of("HTTP/1.1 204 No Content\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n")),
                Arguments.of("304", 304, Reply.of("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-A: 1\r\n\r\n")),
                Arguments.of("304 with the Content-Length a 200 would have", 304,
                        Reply.of("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-A: 1\r\nContent-Length: 10\r\n\r\n")),
                // gunicorn 20.1 writes the body Django gave a 204 (JsonResponse({}, status=204)) after the head.
                Arguments.of("204 followed a moment later by a body", 204, Reply.of(late204 + "{}")
                        .splitAt(late204.length()).pauseBetweenPieces(Duration.ofMillis(50))));
    }

    /**
     * A 204 or a 304 has no body, whatever its head says, and its upstream connection is not used again: bytes a
     * server sends after such a head would otherwise be read as the next request's response.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("bodylessResponses")
    void bodylessStatusesHaveNoBodyAndTheNextRequestGetsItsOwnAnswer(String name, int status, Reply reply)
            throws Exception {
        backend.on("/nobody", reply);
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/nobody");
            assertThat(r.status()).isEqualTo(status);
            assertThat(r.header("X-A")).isEqualTo("1");
            assertThat(r.headers("Transfer-Encoding")).isEmpty();
            if (status == 204) {
                // RFC 9110 8.6: never in a 204
                assertThat(r.headers("Content-Length")).isEmpty();
            }
            assertThat(r.body()).isEmpty();
            assertThat(client.available()).as("bytes after the %d response", status).isZero();

            Response next = client.exchange("/next");
            assertThat(next.statusLine()).isEqualTo("HTTP/1.1 200 OK");
            assertThat(next.bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(2);
    }

    // ---------------------------------------------------------------- 7. interim responses

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void interimResponseInTheSameWriteIsNotRelayed(Delivery delivery) throws Exception {
        backend.on("/hints", delivery.apply(Reply.of(EARLY_HINTS + FINAL)));
        assertOnlyTheFinalResponseArrives();
    }

    @Test
    void interimResponseInASeparateWriteIsNotRelayed() throws Exception {
        backend.on("/hints", Reply.of(EARLY_HINTS + FINAL).splitAt(EARLY_HINTS.length())
                .pauseBetweenPieces(Duration.ofMillis(20)));
        assertOnlyTheFinalResponseArrives();
    }

    @Test
    void twoInterimResponsesAreNotRelayed() throws Exception {
        String continue100 = "HTTP/1.1 100 Continue\r\n\r\n";
        backend.on("/hints", Reply.of(continue100 + EARLY_HINTS + FINAL)
                .splitAt(continue100.length(), continue100.length() + EARLY_HINTS.length())
                .pauseBetweenPieces(Duration.ofMillis(10)));
        assertOnlyTheFinalResponseArrives();
    }

    /** Gunicorn 20.1 sends a StreamingHttpResponse's body after its HEAD answer, a moment later. */
    @Test
    void aBodyAnUpstreamSendsAfterAHeadAnswerNeverReachesAnotherRequest() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        backend.on("/stream", Reply.of(head + "5\r\nhello\r\n0\r\n\r\n").splitAt(head.length())
                .pauseBetweenPieces(Duration.ofMillis(200)));
        backend.on("/g", ok("the get"));

        try (Client client = client()) {
            client.send("HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n");
            assertThat(client.read("HEAD").status()).isEqualTo(200);
            Response g = client.exchange("/g");
            assertThat(g.status()).isEqualTo(200);
            assertThat(g.bodyText()).isEqualTo("the get");
        }
    }

    @Test
    void headAnsweredAfterAnInterimResponseHasNoBody() throws Exception {
        backend.on("/h", EARLY_HINTS + "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        backend.on("/g", ok("the get"));

        try (Client client = client()) {
            client.send("HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n");
            Response r = client.read("HEAD");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Content-Length")).containsExactly("10");

            Response g = client.exchange("/g");
            assertThat(g.bodyText()).isEqualTo("the get");
        }
        // Its head ended the HEAD response (or the GET's answer would be late or garbled); the connection is then
        // not reused, since gunicorn may send a body after a HEAD answer.
        assertThat(backend.connections()).isEqualTo(2);
    }

    private void assertOnlyTheFinalResponseArrives() throws Exception {
        backend.on("/next", ok("next"));
        try (Client client = client()) {
            Response r = client.exchange("/hints");
            assertThat(r.statusLine()).isEqualTo("HTTP/1.1 200 OK");
            assertThat(r.headers("Link")).as("the interim response's header").isEmpty();
            assertThat(r.bodyText()).isEqualTo("final");

            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- 8. hop-by-hop headers

    @Test
    void hopByHopHeadersAreRemovedAndEndToEndHeadersKept() throws Exception {
        backend.on("/hop", "HTTP/1.1 200 OK\r\n"
                + "Connection: close, X-Hop\r\n"
                + "X-Hop: 1\r\n"
                + "Keep-Alive: timeout=5\r\n"
                + "Proxy-Connection: keep-alive\r\n"
                + "TE: trailers\r\n"
                + "Upgrade: h2c\r\n"
                + "X-End: 1\r\n"
                + "Set-Cookie: a=1; Path=/; HttpOnly\r\n"
                + "Set-Cookie: b=2; Max-Age=60\r\n"
                + "Cache-Control: no-cache, private\r\n"
                + "Content-Length: 2\r\n"
                + "\r\n"
                + "ok");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/hop");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("X-Hop")).isEmpty();
            assertThat(r.headers("Keep-Alive")).isEmpty();
            assertThat(r.headers("Proxy-Connection")).isEmpty();
            assertThat(r.headers("TE")).isEmpty();
            assertThat(r.headers("Upgrade")).isEmpty();
            assertThat(String.join(",", r.headers("Connection")).toLowerCase(Locale.ROOT))
                    .as("Connection as the proxy's own").doesNotContain("x-hop").doesNotContain("close");
            assertThat(r.headers("X-End")).containsExactly("1");
            assertThat(r.headers("Set-Cookie")).containsExactly("a=1; Path=/; HttpOnly", "b=2; Max-Age=60");
            assertThat(r.headers("Cache-Control")).containsExactly("no-cache, private");
            assertThat(r.bodyText()).isEqualTo("ok");

            Response next = client.exchange("/next");
            assertThat(next.bodyText()).as("the client's connection stays open").isEqualTo("next");
        }
        assertNotReused("/hop", "/next");
    }

    @ParameterizedTest
    @EnumSource(Delivery.class)
    void headerLinesGoOutAsReceivedAndOddlySpacedOnesAreWrittenAfresh(Delivery delivery) throws Exception {
        // Lines in "Name: value CRLF" form are copied in runs; a hop-by-hop line in between splits a run, and a
        // line in any other form (no space, extra whitespace, empty value, bare LF) is written as "Name: value".
        backend.on("/lines", delivery.apply(Reply.of("HTTP/1.1 200 OK\r\n"
                + "X-A: 1\r\n"
                + "Connection: keep-alive\r\n"
                + "X-B:2\r\n"
                + "X-C:   3 \t\r\n"
                + "X-D: 4\r\n"
                + "X-Empty:\r\n"
                + "X-E: 5\n"
                + "X-F: 6\r\n"
                + "Content-Length: 2\r\n"
                + "\r\n"
                + "ok")));
        backend.on("/bare-lf", delivery.apply(Reply.of("HTTP/1.1 201 Made\nX-G: 7\r\nContent-Length: 2\r\n\r\nok")));

        try (Client client = client()) {
            Response r = client.exchange("/lines");
            assertThat(r.head()).startsWith("HTTP/1.1 200 OK\r\n"
                    + "X-A: 1\r\n"
                    + "X-B: 2\r\n"
                    + "X-C: 3\r\n"
                    + "X-D: 4\r\n"
                    + "X-Empty: \r\n"
                    + "X-E: 5\r\n"
                    + "X-F: 6\r\n"
                    + "Content-Length: 2\r\n");
            assertThat(r.bodyText()).isEqualTo("ok");

            Response bare = client.exchange("/bare-lf");
            assertThat(bare.head()).startsWith("HTTP/1.1 201 Made\r\nX-G: 7\r\nContent-Length: 2\r\n");
            assertThat(bare.bodyText()).isEqualTo("ok");
        }
    }

    @Test
    void aHeaderNamedInConnectionIsRemovedWhileTheUpstreamStaysReusable() throws Exception {
        backend.on("/hop", "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 1\r\n"
                + "Content-Length: 2\r\n\r\nok");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/hop");
            assertThat(r.headers("X-Hop")).isEmpty();
            assertThat(r.headers("X-End")).containsExactly("1");
            assertThat(r.bodyText()).isEqualTo("ok");
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    /** RFC 9110 6.6.1: a response that goes on without the upstream's Date, hop-by-hop here, gets the proxy's. */
    @Test
    void aDateNamedInConnectionIsReplacedByTheProxys() throws Exception {
        backend.on("/dated", "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nConnection: Date\r\n"
                + "Content-Length: 2\r\n\r\nok");

        try (Client client = client()) {
            Response r = client.exchange("/dated");
            assertThat(r.headers("Date")).singleElement().asString().doesNotContain("2001");
        }
    }

    // ---------------------------------------------------------------- 9. HTTP/1.0 upstream response

    @Test
    void http10ResponseIsRelayedAsHttp11AndItsConnectionIsNotReused() throws Exception {
        backend.on("/old", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nX-Old: 1\r\n\r\nold");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/old");
            assertThat(r.statusLine()).isEqualTo("HTTP/1.1 200 OK");
            assertThat(r.header("X-Old")).isEqualTo("1");
            assertThat(r.bodyText()).isEqualTo("old");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertNotReused("/old", "/next");
    }

    @Test
    void http10KeepAliveResponseArrivesComplete() throws Exception {
        backend.on("/old", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nold");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/old");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("old");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
    }

    // ---------------------------------------------------------------- 10. status line

    @Test
    void customReasonPhraseIsKept() throws Exception {
        backend.on("/custom", "HTTP/1.1 299 Custom Thing\r\nContent-Length: 2\r\n\r\nok");

        try (Client client = client()) {
            Response r = client.exchange("/custom");
            assertThat(r.statusLine()).isEqualTo("HTTP/1.1 299 Custom Thing");
            assertThat(r.bodyText()).isEqualTo("ok");
        }
    }

    @ParameterizedTest(name = "[{0}]")
    @ValueSource(strings = {"HTTP/1.1 200 ", "HTTP/1.1 200"})
    void statusLineWithoutReasonPhraseIsRelayed(String statusLine) throws Exception {
        backend.on("/bare", statusLine + "\r\nContent-Length: 2\r\n\r\nok");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/bare");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.statusLine()).startsWith("HTTP/1.1 200");
            assertThat(r.bodyText()).isEqualTo("ok");
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
    }

    // ---------------------------------------------------------------- 11. malformed responses

    static Stream<Arguments> malformedResponses() {
        return Stream.of(
                Arguments.of("garbage status code",
                        "HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok"),
                Arguments.of("four-digit status code",
                        "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"),
                Arguments.of("status code above 599",
                        "HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\n\r\nok"),
                Arguments.of("Content-Length not a number",
                        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello"),
                Arguments.of("negative Content-Length",
                        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello"),
                Arguments.of("two different Content-Length headers",
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
                Arguments.of("two different values in one Content-Length header",
                        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"),
                Arguments.of("header line without a colon",
                        "HTTP/1.1 200 OK\r\nX-No-Colon\r\nContent-Length: 5\r\n\r\nhello"),
                Arguments.of("whitespace between header name and colon",
                        "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello"),
                Arguments.of("NUL in a header value",
                        "HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 5\r\n\r\nhello"),
                Arguments.of("bare CR in a header value",
                        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\nhello"),
                Arguments.of("obs-fold continuation line",
                        "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 5\r\n\r\nhello"),
                Arguments.of("response head over the limit",
                        "HTTP/1.1 200 OK\r\nX-Big: " + "a".repeat(RESPONSE_HEAD_LIMIT + 16 * 1024)
                                + "\r\nContent-Length: 5\r\n\r\nhello"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedResponses")
    void malformedResponseIsA502AndItsConnectionIsNotReused(String name, String reply) throws Exception {
        backend.on("/bad", reply);
        backend.on("/ok", ok("fine"));

        try (Client client = client()) {
            Response r;
            try {
                r = client.exchange("/bad");
            } catch (ProtocolException e) {
                throw new AssertionError("the answer to a response with " + name + " is no valid response either: "
                        + e.getMessage(), e);
            }
            assertThat(r.status()).as("answer to %s: %s", name, r.head()).isEqualTo(502);
        }
        try (Client client = client()) {
            Response r = client.exchange("/ok");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("fine");
        }
        assertNotReused("/bad", "/ok");
    }

    @Test
    void twoIdenticalContentLengthHeadersAreAccepted() throws Exception {
        backend.on("/twice", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/twice");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("hello");
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
    }

    /** RFC 9110 8.6: "42, 42" is either refused or replaced by the single value; it is never passed on. */
    @Test
    void aContentLengthListOfEqualValuesReachesTheClientAsOneValue() throws Exception {
        backend.on("/list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nX-A: 1\r\n\r\nhello");
        backend.on("/list-then-plain", "HTTP/1.1 200 OK\r\nContent-Length: 5,5\r\nContent-Length: 5\r\n\r\nhello");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            for (String path : new String[] {"/list", "/list-then-plain"}) {
                Response r = client.exchange(path);
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.headers("Content-Length")).as(path).containsExactly("5");
                assertThat(r.bodyText()).isEqualTo("hello");
            }
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
    }

    @Test
    void transferEncodingWithContentLengthIsNeverForwardedWithBoth() throws Exception {
        // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; an intermediary either refuses the message or
        // removes Content-Length before forwarding it.
        backend.on("/both", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n0\r\n\r\n");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/both");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Content-Length")).isEmpty();
            assertThat(r.bodyText()).isEqualTo("hello");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        // RFC 9112 6.1: such a message ought to be handled as an error; what the upstream meant by it is unknown,
        // so its connection does not carry another request.
        assertNotReused("/both", "/next");
    }

    @Test
    void transferEncodingInAnHttp10ResponseEndsItsConnection() throws Exception {
        backend.on("/old", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n0\r\n\r\n");
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/old");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("hello");
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertNotReused("/old", "/next");
    }

    @Test
    void largeHeadBelowTheLimitIsRelayedIntact() throws Exception {
        String big = "b".repeat(16 * 1024);
        backend.on("/big", "HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 2\r\n\r\nok");

        try (Client client = client()) {
            Response r = client.exchange("/big");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("X-Big")).isEqualTo(big);
            assertThat(r.bodyText()).isEqualTo("ok");
        }
    }

    @Test
    void aSmallBodyCutShortClosesTheClientConnectionWithTheHeadAndWhatCame() throws Exception {
        // A small body is copied in after its head, so that both go out as one buffer; when the upstream closes
        // before the body is complete, what came still goes out and the close tells the client the rest is lost.
        backend.on("/short", Reply.of("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + "x".repeat(10)).thenClose());
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            client.get("/short");
            Rest rest = client.readUntilClose();
            assertThat(rest.closed()).as("the proxy closed the client connection").isTrue();
            assertThat(rest.text()).startsWith("HTTP/1.1 200 OK\r\n").contains("Content-Length: 100\r\n")
                    .endsWith("\r\n\r\n" + "x".repeat(10));
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
    }

    // ---------------------------------------------------------------- 12. broken chunked body

    @Test
    void badChunkSizeAfterTheHeadClosesTheClientConnectionWithoutCompletingTheResponse() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        CountDownLatch headSeen = new CountDownLatch(1);
        backend.on("/broken", Reply.of(head + "zz\r\nworld\r\n0\r\n\r\n").holdAt(head.length(), headSeen));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            client.get("/broken");
            Response r = client.readHead();
            assertThat(r.status()).as("the head was relayed before the bad chunk came").isEqualTo(200);
            assertThat(r.chunked()).isTrue();
            headSeen.countDown();

            Rest rest = client.readUntilClose();
            assertThat(rest.closed()).as("the proxy closed the client connection").isTrue();
            assertThatThrownBy(() -> decodeChunked(new ByteArrayInputStream(rest.bytes())))
                    .as("what came after the head, %s, as a complete chunked body", rest.text())
                    .isInstanceOf(IOException.class);
        }
        try (Client client = client()) {
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertNotReused("/broken", "/next");
    }

    // ---------------------------------------------------------------- 14. bytes after the response

    static Stream<Arguments> trailingBytes() {
        return Stream.of(
                Arguments.of("a garbage line", "garbage\r\n"),
                Arguments.of("bytes without a line end", "junk"),
                Arguments.of("a second, unrequested response", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("trailingBytes")
    void bytesAfterACompleteResponseAreNotTakenForTheNextOne(String name, String extra) throws Exception {
        backend.on("/first", ok("first") + extra);
        backend.on("/second", ok("second"));

        try (Client client = client()) {
            Response first = client.exchange("/first");
            assertThat(first.status()).isEqualTo(200);
            assertThat(first.bodyText()).isEqualTo("first");
            assertThat(client.available()).as("bytes after the first response").isZero();

            Response second = client.exchange("/second");
            assertThat(second.status()).as("%s; the backend received %s", second.statusLine(), backendLog())
                    .isEqualTo(200);
            assertThat(second.bodyText()).isEqualTo("second");
        }
        assertNotReused("/first", "/second");
    }

    // ---------------------------------------------------------------- 15. large bodies

    @Test
    void largeContentLengthBodyArrivesByteForByte() throws Exception {
        byte[] body = randomBytes(1 << 20);
        byte[] head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + body.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] reply = concat(head, body);
        backend.on("/large", Reply.of(reply).splitAt(offsets(reply.length, 1, 13, 4096, 1000, 65536, 7, 32768,
                100_000, 2)));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/large");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.headers("Content-Length")).containsExactly(Integer.toString(body.length));
            assertThat(r.body().length).isEqualTo(body.length);
            assertThat(sha256(r.body())).isEqualTo(sha256(body));
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    @Test
    void largeChunkedBodyArrivesByteForByte() throws Exception {
        byte[] body = randomBytes(1 << 20);
        ByteArrayOutputStream wire = new ByteArrayOutputStream(body.length + 4096);
        wire.writeBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        int[] chunkSizes = {1, 15, 16, 255, 4096, 8192, 65535, 100_000, 3, 200_000};
        int at = 0;
        for (int i = 0; at < body.length; i++) {
            int size = Math.min(chunkSizes[i % chunkSizes.length], body.length - at);
            wire.writeBytes((Integer.toHexString(size) + (i % 3 == 0 ? ";n=" + i : "") + "\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            wire.write(body, at, size);
            wire.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
            at += size;
        }
        wire.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        byte[] reply = wire.toByteArray();
        backend.on("/large", Reply.of(reply).splitAt(offsets(reply.length, 3, 1, 5000, 17, 65536, 8191, 2, 40_000)));
        backend.on("/next", ok("next"));

        try (Client client = client()) {
            Response r = client.exchange("/large");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.chunked()).isTrue();
            assertThat(r.body().length).isEqualTo(body.length);
            assertThat(sha256(r.body())).isEqualTo(sha256(body));
            assertThat(client.exchange("/next").bodyText()).isEqualTo("next");
        }
        assertThat(backend.connections()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- helpers

    private Client client() throws IOException {
        return new Client(proxy.listenAddress());
    }

    private static String ok(String body) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    }

    /**
     * The request for {@code after} reached the backend exactly once, on a connection none of the requests for
     * {@code before} came on.
     */
    private void assertNotReused(String before, String after) {
        List<Request> earlier = backend.received(before);
        List<Request> later = backend.received(after);
        assertThat(earlier).as("requests for %s", before).isNotEmpty();
        assertThat(later).as("requests for %s; the backend received %s", after, backendLog()).hasSize(1);
        assertThat(earlier).extracting(Request::connection)
                .as("connections of %s; the backend received %s", before, backendLog())
                .doesNotContain(later.get(0).connection());
    }

    /** What the backend received, e.g. {@code [GET /first on #1, GET /second on #1]}. */
    private String backendLog() {
        return backend.received().stream().map(r -> r.method() + " " + r.target() + " on #" + r.connection())
                .toList().toString();
    }

    /** Split points: pieces of the given sizes in turn, up to {@code length}. */
    private static int[] offsets(int length, int... sizes) {
        List<Integer> offsets = new ArrayList<>();
        int at = 0;
        for (int i = 0; ; i++) {
            at += sizes[i % sizes.length];
            if (at >= length) {
                break;
            }
            offsets.add(at);
        }
        return offsets.stream().mapToInt(Integer::intValue).toArray();
    }

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        new Random(42).nextBytes(bytes);
        return bytes;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = new byte[a.length + b.length];
        System.arraycopy(a, 0, both, 0, a.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }

    private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** A response as the client read it; {@code body} is decoded (de-chunked). */
    record Response(String head, String statusLine, int status, List<Map.Entry<String, String>> fields, byte[] body,
                    List<String> trailers, boolean chunked, boolean closeDelimited) {

        /** The first value of the header (case-insensitive name), or null. */
        String header(String name) {
            List<String> values = headers(name);
            return values.isEmpty() ? null : values.get(0);
        }

        /** Every value of the header (case-insensitive name), in order. */
        List<String> headers(String name) {
            List<String> values = new ArrayList<>();
            for (Map.Entry<String, String> f : fields) {
                if (f.getKey().equalsIgnoreCase(name)) {
                    values.add(f.getValue());
                }
            }
            return values;
        }

        String bodyText() {
            return new String(body, StandardCharsets.ISO_8859_1);
        }

        @Override
        public String toString() {
            return head + (body.length > 200 ? "<" + body.length + " bytes>" : bodyText());
        }
    }

    /** What came until the proxy closed the connection (or a read timed out: {@code closed} is false). */
    record Rest(byte[] bytes, boolean closed) {
        String text() {
            return new String(bytes, StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * One client connection, reading responses strictly (RFC 9112): CRLF line ends, a colon in every header line,
     * well-formed chunks. Anything else throws, so a response the proxy garbled fails the test.
     */
    private static final class Client implements AutoCloseable {

        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;

        Client(InetSocketAddress address) throws IOException {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(address, 2000);
            socket.setSoTimeout(5000);
            in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
            out = socket.getOutputStream();
        }

        Client send(String raw) throws IOException {
            out.write(raw.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return this;
        }

        Client get(String path) throws IOException {
            return send("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n");
        }

        Response exchange(String path) throws IOException {
            return get(path).read();
        }

        /** The next response to a GET. */
        Response read() throws IOException {
            return read("GET");
        }

        /** The next response; {@code method} tells whether it has a body (HEAD: never). */
        Response read(String method) throws IOException {
            Response head = readHead();
            int status = head.status();
            if (method.equals("HEAD") || status / 100 == 1 || status == 204 || status == 304) {
                return head;
            }
            List<String> te = head.headers("Transfer-Encoding");
            List<String> cl = head.headers("Content-Length");
            if (!te.isEmpty()) {
                if (!head.chunked()) {
                    return withBody(head, in.readAllBytes(), List.of(), true);
                }
                List<String> trailers = new ArrayList<>();
                byte[] body = decodeChunked(in, trailers);
                return withBody(head, body, trailers, false);
            }
            if (!cl.isEmpty()) {
                String value = cl.get(0);
                for (String other : cl) {
                    if (!other.equals(value)) {
                        throw new ProtocolException("different Content-Length values: " + cl);
                    }
                }
                if (!value.matches("[0-9]{1,9}")) {
                    throw new ProtocolException("bad Content-Length: " + value);
                }
                int length = Integer.parseInt(value);
                byte[] body = in.readNBytes(length);
                if (body.length < length) {
                    throw new EOFException("closed after " + body.length + " of " + length + " body bytes");
                }
                return withBody(head, body, List.of(), false);
            }
            return withBody(head, in.readAllBytes(), List.of(), true);
        }

        private static Response withBody(Response head, byte[] body, List<String> trailers, boolean closeDelimited) {
            return new Response(head.head(), head.statusLine(), head.status(), head.fields(), body, trailers,
                    head.chunked(), closeDelimited);
        }

        /** The status line and header section of the next response, nothing of its body. */
        Response readHead() throws IOException {
            StringBuilder head = new StringBuilder();
            String statusLine = line(in, head);
            if (!statusLine.matches("HTTP/1\\.[01] [0-9]{3}( .*)?")) {
                throw new ProtocolException("bad status line: " + statusLine);
            }
            int status = Integer.parseInt(statusLine.substring(9, 12));
            List<Map.Entry<String, String>> fields = new ArrayList<>();
            String line;
            while (!(line = line(in, head)).isEmpty()) {
                int colon = line.indexOf(':');
                if (colon <= 0 || !line.substring(0, colon).matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+")) {
                    throw new ProtocolException("bad header line: " + line);
                }
                fields.add(Map.entry(line.substring(0, colon), line.substring(colon + 1).strip()));
            }
            boolean chunked = false;
            for (Map.Entry<String, String> f : fields) {
                if (f.getKey().equalsIgnoreCase("Transfer-Encoding")) {
                    String[] codings = f.getValue().split(",");
                    chunked = codings[codings.length - 1].strip().equalsIgnoreCase("chunked");
                }
            }
            return new Response(head.toString(), statusLine, status, List.copyOf(fields), new byte[0], List.of(),
                    chunked, false);
        }

        /** Bytes already received and not read yet. */
        int available() throws IOException {
            return in.available();
        }

        /**
         * True when the proxy closes the connection (or resets it) within the read timeout, false if it stays open.
         * Fails if a byte arrives instead.
         */
        boolean closedByProxy() throws IOException {
            try {
                int b = in.read();
                if (b >= 0) {
                    throw new AssertionError("unexpected byte after the response: " + (char) b);
                }
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true;
            }
        }

        Rest readUntilClose() throws IOException {
            ByteArrayOutputStream rest = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            try {
                int n;
                while ((n = in.read(buffer)) != -1) {
                    rest.write(buffer, 0, n);
                }
                return new Rest(rest.toByteArray(), true);
            } catch (SocketTimeoutException e) {
                return new Rest(rest.toByteArray(), false);
            } catch (IOException e) {
                return new Rest(rest.toByteArray(), true);
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private static byte[] decodeChunked(InputStream in) throws IOException {
        return decodeChunked(in, new ArrayList<>());
    }

    /** A chunked body (RFC 9112 7.1), strictly: hex size, optional extensions, CRLF after the data, trailers. */
    private static byte[] decodeChunked(InputStream in, List<String> trailers) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        StringBuilder ignored = new StringBuilder();
        while (true) {
            String sizeLine = line(in, ignored);
            int semicolon = sizeLine.indexOf(';');
            String hex = semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon);
            if (!hex.matches("[0-9A-Fa-f]{1,7}")) {
                throw new ProtocolException("bad chunk size line: " + sizeLine);
            }
            int size = Integer.parseInt(hex, 16);
            if (size == 0) {
                String trailer;
                while (!(trailer = line(in, ignored)).isEmpty()) {
                    trailers.add(trailer);
                }
                return body.toByteArray();
            }
            byte[] data = in.readNBytes(size);
            if (data.length < size) {
                throw new EOFException("closed after " + data.length + " of a " + size + " byte chunk");
            }
            body.write(data);
            if (!line(in, ignored).isEmpty()) {
                throw new ProtocolException("chunk data not followed by CRLF");
            }
        }
    }

    /** One line ended by CRLF, without it; appended to {@code raw} with it. A bare LF or CR is an error. */
    private static String line(InputStream in, StringBuilder raw) throws IOException {
        StringBuilder line = new StringBuilder();
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("closed in the middle of a line: " + line);
            }
            if (b == '\r') {
                int lf = in.read();
                if (lf != '\n') {
                    throw new ProtocolException("CR not followed by LF in: " + line);
                }
                raw.append(line).append("\r\n");
                return line.toString();
            }
            if (b == '\n') {
                throw new ProtocolException("bare LF after: " + line);
            }
            if (line.length() > 256 * 1024) {
                throw new ProtocolException("line too long");
            }
            line.append((char) b);
        }
    }
}
