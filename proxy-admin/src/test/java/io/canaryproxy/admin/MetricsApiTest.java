package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /metrics} of a real proxy that records into a Prometheus registry, with two {@link CountingBackend}s as
 * blue and green: what the test sends through the proxy is what the exposition counts.
 */
class MetricsApiTest {

    private CountingBackend blue;
    private CountingBackend green;
    private PrometheusMeterRegistry registry;
    private final RunningAdmin running = new RunningAdmin();
    private CanaryProxy proxy;
    private AdminCalls calls;

    @BeforeEach
    void start() throws Exception {
        blue = new CountingBackend();
        green = new CountingBackend();
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                }
                """.formatted(blue.endpoint(), green.endpoint())), registry);
        calls = running.serve(proxy, null, null);
    }

    @AfterEach
    void stop() throws Exception {
        running.stop();
        if (registry != null) {
            registry.close();
        }
        if (blue != null) {
            blue.close();
        }
        if (green != null) {
            green.close();
        }
    }

    @Test
    void countsEveryRequestSentThroughTheProxyByReleaseAndStatusClass() throws Exception {
        int sent = 7;
        InetSocketAddress listener = proxy.listenAddress();
        try (RawHttpClient client = new RawHttpClient(listener)) {
            for (int i = 0; i < sent; i++) {
                assertThat(client.get("/page/" + i).status()).isEqualTo(200);
            }
        }
        assertThat(blue.requests()).isEqualTo(sent);

        await("the last response recorded").atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                .until(() -> value(scrape(), "canary_proxy_requests_total", "release", "blue", "status", "2xx")
                        == sent);
        HttpResponse<String> r = calls.get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue(PrometheusTextFormatWriter.CONTENT_TYPE);
        assertThat(AdminHandler.PROMETHEUS_TEXT).isEqualTo(PrometheusTextFormatWriter.CONTENT_TYPE);
        assertThat(r.body()).contains("# TYPE canary_proxy_requests_total counter");

        List<PrometheusText.Sample> samples = PrometheusText.parse(r.body());
        assertThat(value(samples, "canary_proxy_requests_total", "release", "blue", "status", "2xx")).isEqualTo(sent);
        assertThat(value(samples, "canary_proxy_requests_total", "release", "blue", "status", "5xx")).isZero();
        assertThat(value(samples, "canary_proxy_requests_total", "release", "green", "status", "2xx")).isZero();

        // the latency histogram: cumulative buckets up to +Inf, which holds every request, and the count
        assertThat(samples).filteredOn(s -> s.name().equals("canary_proxy_upstream_latency_seconds_bucket")
                && "blue".equals(s.label("release"))).hasSizeGreaterThan(10);
        assertThat(value(samples, "canary_proxy_upstream_latency_seconds_bucket", "release", "blue", "le", "+Inf"))
                .isEqualTo(sent);
        assertThat(value(samples, "canary_proxy_upstream_latency_seconds_count", "release", "blue")).isEqualTo(sent);
        assertThat(value(samples, "canary_proxy_upstream_latency_seconds_sum", "release", "blue")).isPositive();

        assertThat(value(samples, "canary_proxy_release_routed", "release", "blue")).isEqualTo(1);
        assertThat(value(samples, "canary_proxy_release_routed", "release", "green")).isZero();
        assertThat(value(samples, "canary_proxy_endpoint_healthy", "release", "blue", "endpoint",
                blue.endpoint())).isEqualTo(1);
    }

    @Test
    void followsTheRouteTable() throws Exception {
        assertThat(calls.post("/canary?release=green&weight=100").statusCode()).isEqualTo(200);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 0; i < 3; i++) {
                assertThat(client.get("/").status()).isEqualTo(200);
            }
        }
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                .until(() -> value(scrape(), "canary_proxy_requests_total", "release", "green", "status", "2xx")
                        == 3);
        List<PrometheusText.Sample> samples = scrape();
        assertThat(value(samples, "canary_proxy_requests_total", "release", "blue", "status", "2xx")).isZero();
        assertThat(value(samples, "canary_proxy_canary_weight_percent")).isEqualTo(100);
        assertThat(value(samples, "canary_proxy_release_routed", "release", "green")).isEqualTo(1);
    }

    /** What Prometheus asks for by default (protobuf first, which is not offered, then OpenMetrics). */
    @Test
    void aScraperThatAsksForOpenMetricsGetsIt() throws Exception {
        HttpResponse<String> r = calls.get("/metrics", "Accept", "application/vnd.google.protobuf;"
                + "proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,"
                + "application/openmetrics-text;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue(OpenMetricsTextFormatWriter.CONTENT_TYPE);
        assertThat(r.body()).contains("# TYPE canary_proxy_requests counter").endsWith("# EOF\n");

        HttpResponse<String> plain = calls.get("/metrics", "Accept", "text/plain");
        assertThat(plain.headers().firstValue("content-type")).hasValue(PrometheusTextFormatWriter.CONTENT_TYPE);
        assertThat(plain.body()).doesNotContain("# EOF");
    }

    @Test
    void headAnswersTheHeadersOnly() throws Exception {
        HttpResponse<String> r = calls.head("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue(PrometheusTextFormatWriter.CONTENT_TYPE);
        assertThat(r.body()).isEmpty();
    }

    @Test
    void aProxyWithoutAPrometheusRegistryHasNoMetricsToExport() throws Exception {
        try (CanaryProxy plain = CanaryProxy.start(TestConfigs.single(blue.endpoint(), ""));
                AdminServer admin = new AdminServer(plain, plain.config().admin()).start()) {
            HttpResponse<String> r = new AdminCalls(admin, plain, null).get("/metrics");
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
            assertThat(json(r).get("error").asText()).startsWith("metrics are not exported")
                    .contains("PrometheusMeterRegistry");
        }
    }

    @Test
    void aPrometheusRegistryInsideACompositeIsFound() {
        io.micrometer.core.instrument.composite.CompositeMeterRegistry composite =
                new io.micrometer.core.instrument.composite.CompositeMeterRegistry();
        assertThat(AdminServer.prometheus(composite)).isNull();
        composite.add(registry);
        assertThat(AdminServer.prometheus(composite)).isSameAs(registry);
        assertThat(AdminServer.prometheus(registry)).isSameAs(registry);
    }

    private List<PrometheusText.Sample> scrape() throws Exception {
        HttpResponse<String> r = calls.get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        return PrometheusText.parse(r.body());
    }

    /** The one sample named {@code name} with exactly the labels given as name, value pairs. */
    private static double value(List<PrometheusText.Sample> samples, String name, String... labels) {
        Map<String, String> wanted = new java.util.HashMap<>();
        for (int i = 0; i + 1 < labels.length; i += 2) {
            wanted.put(labels[i], labels[i + 1]);
        }
        List<PrometheusText.Sample> found = samples.stream()
                .filter(s -> s.name().equals(name) && s.labels().equals(wanted))
                .toList();
        assertThat(found).as(name + wanted).hasSize(1);
        return found.get(0).value();
    }
}
