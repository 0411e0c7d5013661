package io.canaryproxy.listener;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.http.Fault;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Faults a real backend does not produce on demand, from WireMock: each ends in a small proxy error or a closed
 * connection, never a hang and never a broken response passed off as complete.
 */
class UpstreamFaultsTest {

    private static WireMockServer upstream;
    private static CanaryProxy proxy;

    @BeforeAll
    static void start() {
        upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(), """
                proxy.upstream { response-timeout = 500ms, max-retries = 2 }
                """));
    }

    @AfterAll
    static void stop() {
        proxy.close();
        upstream.stop();
    }

    @BeforeEach
    void reset() {
        upstream.resetAll();
    }

    @Test
    void resetBeforeAnyResponseByteIsA502() throws Exception {
        upstream.stubFor(any(urlEqualTo("/reset")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        assertThat(result.status()).isEqualTo(502);
        assertThat(result.text()).endsWith("502 Bad Gateway\n");
        // Which attempts follow is RetryTest's subject.
    }

    @Test
    void aPostThatReachedTheUpstreamIsNeverSentTwice() throws Exception {
        upstream.stubFor(any(urlEqualTo("/reset")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");

        assertThat(result.status()).isEqualTo(502);
        assertThat(upstream.findAll(anyRequestedFor(urlEqualTo("/reset")))).hasSize(1);
    }

    @Test
    void emptyResponseIsA502() throws Exception {
        upstream.stubFor(any(urlEqualTo("/empty")).willReturn(aResponse().withFault(Fault.EMPTY_RESPONSE)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        assertThat(result.status()).isEqualTo(502);
    }

    @Test
    void garbageInsteadOfAResponseIsA502() throws Exception {
        upstream.stubFor(any(urlEqualTo("/garbage")).willReturn(aResponse().withFault(Fault.RANDOM_DATA_THEN_CLOSE)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /garbage HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        assertThat(result.status()).isEqualTo(502);
    }

    @Test
    void aResponseBrokenMidBodyClosesTheClientConnectionWithoutCompletingIt() throws Exception {
        upstream.stubFor(any(urlEqualTo("/broken")).willReturn(aResponse().withFault(Fault.MALFORMED_RESPONSE_CHUNK)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n");

        assertThat(result.status()).isEqualTo(200);
        assertThat(result.closed()).isTrue();
        // Chunked to the client, and the terminating zero-length chunk never came.
        assertThat(result.text()).containsIgnoringCase("transfer-encoding: chunked").doesNotEndWith("0\r\n\r\n");
    }

    @Test
    void aStalledUpstreamIsA504AfterTheResponseTimeout() throws Exception {
        upstream.stubFor(any(urlEqualTo("/stall")).willReturn(aResponse().withStatus(200).withFixedDelay(5000)));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /stall HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        // Only the proxy's own response timeout answers 504: the upstream would have answered 200.
        assertThat(result.status()).isEqualTo(504);
    }

    @Test
    void keepAliveConnectionSurvivesAProxyError() throws Exception {
        upstream.stubFor(any(urlEqualTo("/empty")).willReturn(aResponse().withFault(Fault.EMPTY_RESPONSE)));
        upstream.stubFor(any(urlEqualTo("/ok")).willReturn(aResponse().withStatus(200).withBody("fine")));

        RawExchange.Result result = RawExchange.send(proxy.listenAddress(),
                "GET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        assertThat(result.responses()).isEqualTo(2);
        assertThat(result.text()).startsWith("HTTP/1.1 502").contains("HTTP/1.1 200").contains("fine");
    }

    @Test
    void eachFailureIsLoggedWithItsRequestAndReason() throws Exception {
        upstream.stubFor(any(urlEqualTo("/stall?id=1")).willReturn(aResponse().withStatus(200).withFixedDelay(5000)));
        upstream.stubFor(any(urlEqualTo("/broken")).willReturn(aResponse().withFault(Fault.MALFORMED_RESPONSE_CHUNK)));
        try (Captured logged = Captured.from(UpstreamFailureLog.class)) {
            RawExchange.send(proxy.listenAddress(), "GET /stall?id=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            RawExchange.send(proxy.listenAddress(), "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n");

            await().atMost(Duration.ofSeconds(5)).until(() -> logged.messages().size() >= 2);
            assertThat(logged.messages()).satisfiesExactly(
                    stall -> assertThat(stall).startsWith("504 GET /stall?… from 127.0.0.1 (release blue): no answer from 127.0.0.1:"),
                    broken -> assertThat(broken).startsWith("200 GET /broken from 127.0.0.1 (release blue): upstream 127.0.0.1:")
                            .contains("broke off the response"));
            assertThat(logged.levels()).containsOnly(Level.WARN);
        }
    }
}
