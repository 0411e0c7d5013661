package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Requests that two HTTP parsers could frame differently (the raw material of request smuggling) are answered by
 * the proxy itself and the connection is closed: not one byte reaches the upstream.
 */
class StrictFramingTest {

    private static CountingBackend backend;
    private static CanaryProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = new CountingBackend();
        proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), """
                proxy.limits { max-header-size = 4k, max-initial-line = 1k, max-body-size = 1k }
                """));
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        backend.close();
    }

    static Stream<Arguments> refused() {
        String big = "a".repeat(5000);
        return Stream.of(
                Arguments.of("Content-Length with Transfer-Encoding",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("Transfer-Encoding with Content-Length",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("two Content-Length headers",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
                Arguments.of("two Content-Length values in one header",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
                Arguments.of("conflicting Content-Length headers",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
                Arguments.of("non-numeric Content-Length",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3a\r\n\r\nabc", 400),
                Arguments.of("negative Content-Length",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc", 400),
                Arguments.of("Transfer-Encoding not ending in chunked",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("obfuscated Transfer-Encoding value",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("a second, different Transfer-Encoding header",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("Transfer-Encoding other than plain chunked",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("whitespace before the colon",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("tab before the colon",
                        "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n", 400),
                Arguments.of("obs-fold continuation line",
                        "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
                Arguments.of("obs-fold hiding Transfer-Encoding",
                        "POST / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400),
                Arguments.of("bare LF after the request line",
                        "GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
                Arguments.of("bare LF after a header",
                        "GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400),
                Arguments.of("bare CR in a header",
                        "GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400),
                Arguments.of("control byte in a header value",
                        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n", 400),
                Arguments.of("empty header name",
                        "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", 400),
                Arguments.of("a byte above 0x7f in the method",
                        "G\u00c9T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("a method that is not a token",
                        "GE(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("a control byte in the request target",
                        "GET /a\u0001b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("NUL in a header name",
                        "GET / HTTP/1.1\r\nHost: x\r\nX-\u0000A: 1\r\n\r\n", 400),
                Arguments.of("vertical tab before Transfer-Encoding value",
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \u000bchunked\r\n\r\n0\r\n\r\n", 400),
                Arguments.of("header line without a colon",
                        "GET / HTTP/1.1\r\nHost: x\r\nno-colon-here\r\n\r\n", 400),
                Arguments.of("HTTP/1.1 without Host",
                        "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
                Arguments.of("two Host headers",
                        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
                Arguments.of("a Host value with a space",
                        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
                Arguments.of("a Host value with a path",
                        "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
                Arguments.of("a Host value with user information",
                        "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
                Arguments.of("a Host value with a port that is no number",
                        "GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", 400),
                Arguments.of("two Host headers, cased differently, apart",
                        "GET / HTTP/1.1\r\nhost: a\r\nX-A: 1\r\nHOST: a\r\n\r\n", 400),
                Arguments.of("a second Host header with an empty value",
                        "GET / HTTP/1.1\r\nHost: a\r\nHost:\r\n\r\n", 400),
                Arguments.of("request line too long",
                        "GET /" + "a".repeat(2000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
                Arguments.of("headers too large",
                        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431),
                Arguments.of("declared body over the limit",
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
                Arguments.of("HTTP/2.0 request line",
                        "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
                Arguments.of("an HTTP version in lower case",
                        "GET / http/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("a protocol other than HTTP",
                        "GET / FOO/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("a version with two digits",
                        "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400),
                Arguments.of("an empty Host",
                        "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
                Arguments.of("a lower-case method, which gunicorn would upper-case",
                        "trace / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
                Arguments.of("user information in an absolute target",
                        "GET http://bank.example@evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n", 400));
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("refused")
    void refusedAndNeverForwarded(String name, String request, int status) throws Exception {
        long bytesBefore = backend.bytesReceived();
        int connectionsBefore = backend.connections();

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(), request);

        assertThat(result.status()).as(result.text()).isEqualTo(status);
        assertThat(result.responses()).isEqualTo(1);
        assertThat(result.closed()).as("connection closed after the refusal").isTrue();
        assertThat(backend.bytesReceived()).as("bytes that reached the upstream").isEqualTo(bytesBefore);
        assertThat(backend.connections()).isEqualTo(connectionsBefore);
    }

    @Test
    void chunkedBodyOverTheLimitIsRefused() throws Exception {
        String chunk = "a".repeat(800);
        String request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "320\r\n" + chunk + "\r\n" + "320\r\n" + chunk + "\r\n0\r\n\r\n";

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(), request);

        assertThat(result.status()).isEqualTo(413);
        assertThat(result.closed()).isTrue();
    }

    /** A refusal is framed for the request it answers, not for the one before it on the connection. */
    @Test
    void aRefusalAfterAHeadRequestCarriesItsBody() throws Exception {
        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3a\r\n\r\n");

        assertThat(result.responses()).as(result.text()).isEqualTo(2);
        assertThat(result.text()).contains("HTTP/1.1 400 Bad Request").endsWith("\r\n\r\n400 Bad Request\n");
        assertThat(result.closed()).isTrue();
    }

    /** RFC 9110 9.3.2: no answer to a HEAD has a body, the proxy's own refusals included. */
    @Test
    void aRefusedHeadRequestGetsNoBody() throws Exception {
        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");

        assertThat(result.responses()).as(result.text()).isEqualTo(2);
        assertThat(result.text()).contains("HTTP/1.1 413 ").endsWith("\r\n\r\n");
        assertThat(result.closed()).isTrue();
    }

    /** RFC 9110 2.5: a later 1.x minor version is answered as 1.1; it still needs a Host, as 1.1 does. */
    @Test
    void aHigherMinorVersionIsHandledAsHttp11() throws Exception {
        try (CountingBackend own = new CountingBackend();
             CanaryProxy ownProxy = CanaryProxy.start(TestConfigs.single(own.endpoint(), ""))) {
            RawExchange.Result ok = RawExchange.send(ownProxy.listenAddress(),
                    "GET /v HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(ok.status()).isEqualTo(200);
            assertThat(ok.text()).startsWith("HTTP/1.1 200");

            RawExchange.Result noHost = RawExchange.send(ownProxy.listenAddress(),
                    "GET /v HTTP/1.2\r\nConnection: close\r\n\r\n");
            assertThat(noHost.status()).isEqualTo(400);
            assertThat(own.requests()).isEqualTo(1);
        }
    }

    @Test
    void wellFormedRequestsPassInOrder() throws Exception {
        // A backend of its own: the one shared by this class may still be counting bytes that an aborted request
        // of another test forwarded.
        try (CountingBackend own = new CountingBackend();
             CanaryProxy ownProxy = CanaryProxy.start(TestConfigs.single(own.endpoint(), ""))) {
            assertPipelinedRequestsPass(own, ownProxy);
        }
    }

    private static void assertPipelinedRequestsPass(CountingBackend backend, CanaryProxy proxy) throws Exception {
        int before = backend.requests();
        // Three pipelined requests in one write, the first preceded by an empty line (RFC 9112 2.2).
        // Names that only begin or end like Host are not a second Host.
        String pipelined = "\r\nGET /1 HTTP/1.1\r\nHost: x\r\nHostname: y\r\nX-Host: z\r\nHos: w\r\n\r\n"
                + "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                + "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(), pipelined);

        assertThat(result.responses()).as(result.text()).isEqualTo(3);
        assertThat(result.closed()).isTrue();
        assertThat(backend.requests() - before).isEqualTo(3);
    }
}
