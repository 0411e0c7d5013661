package io.canaryproxy.metrics;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.http.Fault;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

/** What the proxy records matches what was sent through it. */
class ProxyMetricsTest {

    @Test
    void requestsErrorsRetriesAndGaugesAreCounted() throws Exception {
        WireMockServer upstream = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        upstream.start();
        upstream.stubFor(get(urlEqualTo("/ok")).willReturn(aResponse().withStatus(200).withBody("ok")));
        upstream.stubFor(get(urlEqualTo("/missing")).willReturn(aResponse().withStatus(404)));
        upstream.stubFor(get(urlEqualTo("/reset")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + upstream.port(), ""), registry);
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 7; i++) {
                assertThat(client.get("/ok").status()).isEqualTo(200);
            }
            assertThat(client.get("/missing").status()).isEqualTo(404);
            assertThat(client.get("/reset").status()).isEqualTo(502);

            assertThat(count(registry, "canary.proxy.requests", "status", "2xx")).isEqualTo(7);
            assertThat(count(registry, "canary.proxy.requests", "status", "4xx")).isEqualTo(1);
            assertThat(count(registry, "canary.proxy.requests", "status", "5xx")).isEqualTo(1);
            assertThat(count(registry, "canary.proxy.upstream.errors", "kind", "reset")).isEqualTo(1);
            assertThat(registry.get("canary.proxy.retries").tag("release", "blue").counter().count()).isEqualTo(2);
            assertThat(registry.get("canary.proxy.upstream.latency").tag("release", "blue").timer().count())
                    .isEqualTo(9);
            assertThat(registry.get("canary.proxy.inflight.requests").tag("release", "blue").gauge().value())
                    .isZero();
            assertThat(registry.get("canary.proxy.endpoint.healthy").tag("release", "blue").gauge().value())
                    .isEqualTo(1);
            assertThat(registry.get("canary.proxy.canary.weight.percent").gauge().value()).isZero();
        } finally {
            upstream.stop();
        }
    }

    private static double count(MeterRegistry registry, String name, String tag, String value) {
        return registry.get(name).tag("release", "blue").tag(tag, value).counter().count();
    }
}
