package io.canaryproxy.listener;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the upstream sees of a request, and what the client sees of a response. */
class HeaderRewriteTest {

    private static WireMockServer upstream;
    private static CanaryProxy proxy;

    @BeforeAll
    static void start() {
        upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(), ""));
    }

    @AfterAll
    static void stop() {
        proxy.close();
        upstream.stop();
    }

    @BeforeEach
    void reset() {
        upstream.resetAll();
        upstream.stubFor(any(urlEqualTo("/h")).willReturn(aResponse().withStatus(200)
                .withHeader("Keep-Alive", "timeout=5").withHeader("X-App", "1").withBody("body")));
    }

    private LoggedRequest send(String headers) throws Exception {
        RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                "GET /h HTTP/1.1\r\nHost: shop.example\r\n" + headers + "Connection: close\r\n\r\n");
        assertThat(r.status()).as(r.text()).isEqualTo(200);
        List<LoggedRequest> seen = upstream.findAll(anyRequestedFor(urlEqualTo("/h")));
        assertThat(seen).hasSize(1);
        return seen.get(0);
    }

    @Test
    void forwardingHeadersAreTheProxysOwnForAnUntrustedClient() throws Exception {
        LoggedRequest r = send("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
                + "X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n");

        assertThat(r.getHeader("X-Forwarded-For")).isEqualTo("127.0.0.1");
        assertThat(r.getHeader("X-Forwarded-Proto")).isEqualTo("http");
        assertThat(r.getHeader("X-Forwarded-Host")).isEqualTo("shop.example");
        assertThat(r.containsHeader("Forwarded")).isFalse();
        assertThat(r.getHeader("Host")).isEqualTo("shop.example");
    }

    /**
     * RFC 9110 7.6.2: an OPTIONS goes on with one hop less, and one with no hop left is answered by the proxy as
     * its final recipient. Other methods pass the header on untouched.
     */
    @Test
    void optionsCountsDownMaxForwards() throws Exception {
        RawExchange.Result forwarded = RawExchange.send(proxy.listenAddress(),
                "OPTIONS /h HTTP/1.1\r\nHost: x\r\nMax-Forwards: 3\r\nConnection: close\r\n\r\n");
        assertThat(forwarded.status()).as(forwarded.text()).isEqualTo(200);
        assertThat(forwarded.text()).contains("body");
        assertThat(upstream.findAll(anyRequestedFor(urlEqualTo("/h"))))
                .singleElement().satisfies(r -> assertThat(r.getHeader("Max-Forwards")).isEqualTo("2"));

        RawExchange.Result here = RawExchange.send(proxy.listenAddress(),
                "OPTIONS /h HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n"
                        + "OPTIONS * HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n");
        assertThat(here.responses()).as(here.text()).isEqualTo(2);
        assertThat(here.text()).startsWith("HTTP/1.1 200 OK").containsIgnoringCase("content-length: 0")
                .doesNotContain("body").endsWith("\r\n\r\n");
        assertThat(upstream.findAll(anyRequestedFor(urlEqualTo("/h")))).as("requests upstream").hasSize(1);

        upstream.resetRequests();
        LoggedRequest get = send("Max-Forwards: 0\r\n");
        assertThat(get.getHeader("Max-Forwards")).isEqualTo("0");
    }

    /** RFC 6265 5.4: one Cookie header; gunicorn would join two with ", ", which Django reads into a value. */
    @Test
    void severalCookieHeadersReachTheUpstreamAsOne() throws Exception {
        LoggedRequest r = send("Cookie: a=1\r\nX-App-Id: 7\r\nCookie: cp_bucket=5; b=2\r\nCookie: c=3\r\n");

        assertThat(r.getHeaders().getHeader("Cookie").values()).containsExactly("a=1; cp_bucket=5; b=2; c=3");
        assertThat(r.getHeader("X-App-Id")).as("what came after the first stays intact").isEqualTo("7");
        upstream.resetRequests();
        assertThat(send("Cookie: only=1\r\n").getHeaders().getHeader("Cookie").values())
                .containsExactly("only=1");
    }

    /** Sends GET /h with {@code headers} through a proxy that trusts the client, as one behind a balancer. */
    /** An IPv6 client is named as nginx names it, in RFC 5952's form (::1): apps and logs compare addresses as text. */
    @Test
    void anIpv6ClientIsNamedInItsShortForm() throws Exception {
        assumeTrue(Ports.ipv6Loopback(), "no IPv6 loopback here");
        try (CanaryProxy v6 = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(),
                "proxy.listen = \"[::1]:0\""))) {
            RawExchange.Result r = RawExchange.send(v6.listenAddress(),
                    "GET /h HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n");
            assertThat(r.status()).as(r.text()).isEqualTo(200);
        }
        assertThat(upstream.findAll(anyRequestedFor(urlEqualTo("/h"))).get(0).getHeader("X-Forwarded-For"))
                .isEqualTo("::1");
    }

    private LoggedRequest sendFromTrustedProxy(String headers) throws Exception {
        try (CanaryProxy behindBalancer = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(),
                "proxy.trusted-proxies = [\"127.0.0.0/8\"]"))) {
            RawExchange.Result result = RawExchange.send(behindBalancer.listenAddress(),
                    "GET /h HTTP/1.1\r\n" + headers + "Connection: close\r\n\r\n");
            assertThat(result.status()).isEqualTo(200);
        }
        return upstream.findAll(anyRequestedFor(urlEqualTo("/h"))).get(0);
    }

    @Test
    void aTrustedProxysForwardingHeadersAreKeptAndAppendedTo() throws Exception {
        LoggedRequest r = sendFromTrustedProxy("Host: internal\r\nX-Forwarded-For: 203.0.113.9\r\n"
                + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n");
        assertThat(r.getHeader("X-Forwarded-For")).isEqualTo("203.0.113.9, 127.0.0.1");
        assertThat(r.getHeader("X-Forwarded-Proto")).isEqualTo("https");
        assertThat(r.getHeader("X-Forwarded-Host")).isEqualTo("shop.example");
    }

    @Test
    void otherForwardingHeadersOfAnUntrustedClientAreDropped() throws Exception {
        LoggedRequest r = send("X-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\nX-Real-IP: 6.6.6.6\r\n"
                + "X-Forwarded-Ssl: on\r\nX-Forwardedness: kept\r\n");

        assertThat(r.containsHeader("X-Forwarded-Port")).isFalse();
        assertThat(r.containsHeader("X-Forwarded-Prefix")).isFalse();
        assertThat(r.containsHeader("X-Real-IP")).isFalse();
        assertThat(r.containsHeader("X-Forwarded-Ssl")).isFalse();
        assertThat(r.getHeader("X-Forwardedness")).isEqualTo("kept");
    }

    /** RFC 9110 5.3: repeated lines are one list; a balancer in front may have added a line of its own. */
    @Test
    void aTrustedProxysRepeatedForwardedForLinesAreAllKept() throws Exception {
        LoggedRequest r = sendFromTrustedProxy("Host: shop.example\r\nX-Forwarded-For: 203.0.113.9\r\n"
                + "X-Forwarded-Port: 443\r\nX-Forwarded-For: 10.0.0.2\r\n");
        assertThat(r.getHeader("X-Forwarded-For")).isEqualTo("203.0.113.9, 10.0.0.2, 127.0.0.1");
        assertThat(r.getHeader("X-Forwarded-Port")).isEqualTo("443");
    }

    /** RFC 9110 5.5: obs-text (bytes from 0x80) is allowed in a value, e.g. a cookie a browser sends as UTF-8. */
    @Test
    void aValueWithBytesAbove0x7fReachesTheUpstreamByteForByte() throws Exception {
        LoggedRequest r = send("Cookie: name=caf\u00c3\u00a9\r\n");

        assertThat(r.getHeader("Cookie").getBytes(StandardCharsets.ISO_8859_1))
                .isEqualTo("name=café".getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A chunked body larger than the proxy holds in memory is collected on disk and goes with its length too. Its
     * trailer fields, and the Trailer header that announced them, are dropped with the chunked framing.
     */
    @Test
    void aLargeChunkedBodyGoesWithAContentLengthAndWithoutItsTrailers() throws Exception {
        upstream.stubFor(post(urlEqualTo("/t")).willReturn(aResponse().withStatus(200)));

        RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                "POST /t HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n"
                        + "Connection: close\r\n\r\n"
                        + "11170\r\n" + "a".repeat(70_000) + "\r\n" + "3\r\nbcd\r\n"
                        + "0\r\nX-Checksum: 42\r\nHost: evil.example\r\n\r\n");

        assertThat(r.status()).as(r.text()).isEqualTo(200);
        LoggedRequest got = upstream.findAll(postRequestedFor(urlEqualTo("/t"))).get(0);
        assertThat(got.getHeader("Content-Length")).isEqualTo("70003");
        assertThat(got.containsHeader("Transfer-Encoding")).isFalse();
        assertThat(got.containsHeader("Trailer")).isFalse();
        assertThat(got.containsHeader("X-Checksum")).isFalse();
        assertThat(got.getHeader("Host")).isEqualTo("shop.example");
        assertThat(got.getBodyAsString()).isEqualTo("a".repeat(70_000) + "bcd");
    }

    /**
     * gunicorn passes a chunked body on without CONTENT_LENGTH, and Django reads that many bytes: none. A chunked
     * body the proxy can hold goes with its length instead, as nginx sends it; its trailer fields are dropped.
     */
    @Test
    void aSmallChunkedBodyGoesWithAContentLength() throws Exception {
        upstream.stubFor(post(urlEqualTo("/c")).willReturn(aResponse().withStatus(200)));

        RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
                        + "Connection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Checksum: 42\r\n\r\n");

        // The 100 comes at once: the body is wanted before any upstream is asked.
        assertThat(r.text()).startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ");
        LoggedRequest got = upstream.findAll(postRequestedFor(urlEqualTo("/c"))).get(0);
        assertThat(got.getHeader("Content-Length")).isEqualTo("7");
        assertThat(got.containsHeader("Transfer-Encoding")).isFalse();
        assertThat(got.containsHeader("X-Checksum")).isFalse();
        assertThat(got.getBodyAsString()).isEqualTo("abcdefg");
    }

    @Test
    void underscoreHeaderNamesAreDropped() throws Exception {
        LoggedRequest r = send("X_Forwarded_For: 6.6.6.6\r\nX_Custom: 1\r\nX-Custom: 2\r\n");

        assertThat(r.getAllHeaderKeys()).noneMatch(name -> name.contains("_"));
        assertThat(r.getHeader("X-Custom")).isEqualTo("2");
        assertThat(r.getHeader("X-Forwarded-For")).isEqualTo("127.0.0.1");
    }

    @Test
    void hopByHopHeadersAreStrippedBothWays() throws Exception {
        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /h HTTP/1.1\r\nHost: x\r\nConnection: close, X-Private\r\nX-Private: secret\r\n"
                        + "Keep-Alive: timeout=9\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n\r\n");
        LoggedRequest r = upstream.findAll(anyRequestedFor(urlEqualTo("/h"))).get(0);

        assertThat(r.containsHeader("X-Private")).isFalse();
        assertThat(r.containsHeader("Keep-Alive")).isFalse();
        assertThat(r.containsHeader("TE")).isFalse();
        assertThat(r.containsHeader("Proxy-Connection")).isFalse();
        assertThat(result.text()).doesNotContainIgnoringCase("keep-alive: timeout=5").contains("X-App: 1");
    }

    /** RFC 9110 7.6.1: every Connection line counts, not only the first. */
    @Test
    void headersNamedInASecondConnectionLineAreStrippedToo() throws Exception {
        LoggedRequest r = send("Connection: keep-alive\r\nConnection: X-Secret\r\nX-Secret: s\r\nX-Kept: k\r\n");

        assertThat(r.containsHeader("X-Secret")).isFalse();
        assertThat(r.getHeader("X-Kept")).isEqualTo("k");
    }

    /** RFC 9110 5.6.1: a tab is whitespace around list elements as much as a space is. */
    @Test
    void aHeaderNamedAfterATabIsStrippedToo() throws Exception {
        LoggedRequest r = send("Connection: keep-alive,\tX-Secret\r\nX-Secret: s\r\nX-Kept: k\r\n");

        assertThat(r.containsHeader("X-Secret")).isFalse();
        assertThat(r.getHeader("X-Kept")).isEqualTo("k");
    }

    /** Connection options and the names in them are matched whatever their case; the options themselves name nothing. */
    @Test
    void connectionNamesAreMatchedWhateverTheirCase() throws Exception {
        LoggedRequest r = send("Connection: KEEP-ALIVE , x-SECRET,Close\r\nX-Secret: s\r\nX-Kept: k\r\n"
                + "Close: not-an-option\r\n");

        assertThat(r.containsHeader("X-Secret")).isFalse();
        assertThat(r.getHeader("X-Kept")).isEqualTo("k");
        assertThat(r.getHeader("Close")).as("close is an option, not a header name").isEqualTo("not-an-option");
    }

    @Test
    void requestIdIsAddedWhenAbsentAndKeptWhenPresent() throws Exception {
        LoggedRequest added = send("");
        assertThat(added.getHeader("X-Request-Id")).matches("[0-9a-f]{32}");

        upstream.resetRequests();
        LoggedRequest kept = send("X-Request-Id: abc-123\r\n");
        assertThat(kept.getHeader("X-Request-Id")).isEqualTo("abc-123");
    }

    /** RFC 9110 7.6.1: an id the client sent for this hop only is not the application's; it gets the proxy's. */
    @Test
    void aRequestIdNamedInConnectionIsReplacedByTheProxysOwn() throws Exception {
        LoggedRequest r = send("Connection: X-Request-Id\r\nX-Request-Id: client-chosen\r\n");

        assertThat(r.getHeaders().getHeader("X-Request-Id").values()).singleElement().asString()
                .matches("[0-9a-f]{32}");
    }

    @Test
    void upstreamLearnsItsRelease() throws Exception {
        LoggedRequest r = send("X-Canary-Release: forged\r\n");
        assertThat(r.getHeader("X-Canary-Release")).isEqualTo("blue");
    }

    @Test
    void headResponseHasNoBodyEvenWhenChunked() throws Exception {
        upstream.stubFor(any(urlEqualTo("/head")).willReturn(aResponse().withStatus(200)
                .withHeader("Transfer-Encoding", "chunked")));

        RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                "HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        assertThat(r.responses()).isEqualTo(2);
        String first = r.text().substring(0, r.text().indexOf("HTTP/1.1", 1));
        assertThat(first).as("no body after the HEAD response's headers").endsWith("\r\n\r\n");
        assertThat(r.text()).contains("body").endsWith("0\r\n\r\n");
    }

    @Test
    void expectContinueIsAnsweredBeforeTheBodyIsSent() throws Exception {
        upstream.stubFor(any(urlEqualTo("/upload")).willReturn(aResponse().withStatus(201)));

        RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
                        + "Connection: close\r\n\r\ndata");

        assertThat(r.text()).startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201");
        LoggedRequest seen = upstream.findAll(anyRequestedFor(urlEqualTo("/upload"))).get(0);
        assertThat(seen.getBodyAsString()).isEqualTo("data");
        assertThat(seen.containsHeader("Expect")).isFalse();
    }

    @Test
    void http10ClientGetsAFramedResponseAndAClose() throws Exception {
        RawExchange.Result r = RawExchange.send(proxy.listenAddress(), "GET /h HTTP/1.0\r\n\r\n");

        assertThat(r.status()).isEqualTo(200);
        assertThat(r.closed()).isTrue();
        assertThat(r.text()).doesNotContainIgnoringCase("transfer-encoding: chunked").endsWith("body");
        LoggedRequest seen = upstream.findAll(anyRequestedFor(urlEqualTo("/h"))).get(0);
        assertThat(seen.getHeader("Host")).as("HTTP/1.1 to the upstream needs a Host").isNotBlank();
    }
}
