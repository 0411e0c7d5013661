package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.awaitility.Awaitility.await;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gate of a switch or a canary asks the release now. The last scheduled health check may be an interval old:
 * a deploy script that restarts green with code that does not boot, and switches at once, must be refused, not
 * send every user to a dead release.
 */
class SwitchGateTest {

    private static CanaryProxy start(CountingBackend blue, CountingBackend green) {
        return CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check { interval = 1h, timeout = 500ms }
                }
                """.formatted(blue.endpoint(), green.endpoint())));
    }

    @Test
    void aReleaseThatStoppedSinceItsLastCheckIsRefused() throws Exception {
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = start(blue, green)) {
            assertThat(proxy.status().releases().get("green").endpoints().get(0).healthy()).isTrue();
            green.close();

            assertThatThrownBy(() -> proxy.switchTo("green", false)).isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("release 'green' has no healthy endpoint (" + green.endpoint()
                            + ": connect failed: ")
                    .hasMessageEndingWith("); start it first, or force the switch");
            assertThatThrownBy(() -> proxy.setCanary("green", 10, false)).isInstanceOf(IllegalStateException.class)
                    .hasMessageEndingWith("or force the change");
            assertThat(proxy.routes().stable()).isEqualTo("blue");
            assertThat(proxy.routes().canary()).isNull();

            assertThat(proxy.switchTo("green", true).stable()).as("forced").isEqualTo("green");
        }
    }

    @Test
    void aReleaseThatAnswersNowIsAcceptedWhateverItsLastCheckSaid() throws Exception {
        try (CountingBackend blue = new CountingBackend(); CountingBackend green = new CountingBackend();
             CanaryProxy proxy = start(blue, green)) {
            assertThat(proxy.switchTo("green", false).stable()).isEqualTo("green");
            assertThat(proxy.setCanary("blue", 10, false).canary()).isEqualTo("blue");
        }
    }

    /** A missing socket file is named as such, not as "connection closed without an answer". */
    @Test
    void theRefusalSaysWhyEachEndpointFailed(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("green.sock");
        try (CountingBackend blue = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["%s"]
                       releases.green.endpoints = ["unix:%s"]
                       routing.stable = blue
                       health-check { interval = 1h, timeout = 500ms }
                     }
                     """.formatted(blue.endpoint(), missing)))) {
            assertThatThrownBy(() -> proxy.switchTo("green", false)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("(unix:" + missing + ": connect failed: ")
                    .hasMessageNotContaining("connection closed");
        }
    }

    /**
     * A release let through because it answers now counts as healthy at once, whatever its last scheduled checks
     * said: otherwise its users would be sent elsewhere, and a canary run would roll it back straight away.
     */
    @Test
    void aReleaseLetThroughIsHealthyAtOnce() throws Exception {
        WireMockServer green = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        green.start();
        try (CountingBackend blue = new CountingBackend();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["%s"]
                       releases.green.endpoints = ["127.0.0.1:%d"]
                       routing { stable = blue, served-by-header = on }
                       health-check { interval = 200ms, timeout = 200ms, rise = 5, fall = 3 }
                     }
                     """.formatted(blue.endpoint(), green.port())));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            green.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(503)));
            green.stubFor(get(urlEqualTo("/")).willReturn(aResponse().withStatus(200).withBody("green")));
            await().atMost(Duration.ofSeconds(5)).until(() -> !healthy(proxy, "green"));

            green.stubFor(get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(200)));
            proxy.setCanary("green", 50, false);

            assertThat(healthy(proxy, "green")).as("before rise = 5 scheduled checks could pass").isTrue();
            assertThat(client.get("/", Map.of("Cookie", "cp_bucket=0")).header("X-Served-By")).isEqualTo("green");
        } finally {
            green.stop();
        }
    }

    private static boolean healthy(CanaryProxy proxy, String release) {
        return proxy.status().releases().get(release).endpoints().get(0).healthy();
    }
}
