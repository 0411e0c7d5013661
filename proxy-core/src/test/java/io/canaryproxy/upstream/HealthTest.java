package io.canaryproxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.ScriptedBackend;
import io.canaryproxy.testing.TestConfigs;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Active checks gate switches and endpoint choice, but never turn a working release into an outage. */
class HealthTest {

    private WireMockServer blue;
    private WireMockServer green;
    private CanaryProxy proxy;

    @BeforeEach
    void start() {
        blue = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        green = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        blue.start();
        green.start();
        blue.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(200)));
        blue.stubFor(get(urlEqualTo("/")).willReturn(aResponse().withStatus(200).withBody("blue")));
        green.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(500)));
        green.stubFor(get(urlEqualTo("/")).willReturn(aResponse().withStatus(200).withBody("green")));
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  releases.green.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  health-check { interval = 400ms, timeout = 400ms, rise = 2, fall = 2 }
                }
                """.formatted(blue.port(), green.port())));
    }

    @AfterEach
    void stop() {
        proxy.close();
        blue.stop();
        green.stop();
    }

    private boolean healthy(String release) {
        return proxy.status().releases().get(release).endpoints().get(0).healthy();
    }

    @Test
    void checksRunAgainstEveryEndpointAndFailingOnesAreReported() {
        await().atMost(Duration.ofSeconds(5)).until(() -> !healthy("green"));
        assertThat(healthy("blue")).isTrue();
        assertThat(green.findAll(getRequestedFor(urlEqualTo("/healthz"))).get(0).getHeader("User-Agent"))
                .isEqualTo("canary-proxy-health-check");
    }

    @Test
    void aSwitchToAReleaseWithNoHealthyEndpointIsRefusedUnlessForced() {
        await().atMost(Duration.ofSeconds(5)).until(() -> !healthy("green"));

        assertThatThrownBy(() -> proxy.switchTo("green", false))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("green");
        assertThat(proxy.routes().stable()).isEqualTo("blue");

        proxy.switchTo("green", true);
        assertThat(proxy.routes().stable()).isEqualTo("green");
    }

    @Test
    void failingChecksAloneDoNotStopTrafficToTheOnlyEndpoint() throws Exception {
        await().atMost(Duration.ofSeconds(5)).until(() -> !healthy("green"));
        proxy.switchTo("green", true);

        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response response = client.get("/");
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.bodyText()).isEqualTo("green");
        }
    }

    /** A refused connect closes the probe's channel too: that must not count as a second failed check. */
    @Test
    void aRefusedConnectIsOneFailedCheck() throws Exception {
        int closedPort = Ports.unused();
        try (CanaryProxy oneCheck = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  releases.purple.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  health-check { interval = 1h, timeout = 1s, rise = 1, fall = 2 }
                }
                """.formatted(blue.port(), closedPort)))) {
            // Only the check at start runs within the hour: one failure of the two that fall needs.
            await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(3))
                    .until(() -> oneCheck.status().releases().get("purple").endpoints().get(0).healthy());
        }
    }

    @Test
    void anEndpointComesBackAfterRisePassingChecks() {
        await().atMost(Duration.ofSeconds(5)).until(() -> !healthy("green"));
        green.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(204)));
        await().atMost(Duration.ofSeconds(5)).until(() -> healthy("green"));
    }

    /**
     * A check is read as requests are: an answer the proxy would refuse to relay (two Content-Length values here)
     * fails the check, though its status is 200, since every request to that endpoint would get a 502.
     */
    @Test
    void anAnswerTheProxyWouldRefuseFailsTheCheck() throws Exception {
        try (ScriptedBackend purple = new ScriptedBackend()
                .on("/healthz", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
                .on("/", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok");
             CanaryProxy checked = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["127.0.0.1:%d"]
                       releases.purple.endpoints = ["%s"]
                       routing.stable = blue
                       health-check { interval = 200ms, timeout = 200ms, rise = 1, fall = 1 }
                     }
                     """.formatted(blue.port(), purple.endpoint())))) {
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> !checked.status().releases().get("purple").endpoints().get(0).healthy());

            assertThatThrownBy(() -> checked.switchTo("purple", false))
                    .hasMessageContaining("malformed answer").hasMessageContaining("Content-Length");
        }
    }
}
