package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PrometheusTextTest {

    @Test
    void readsSamplesAndSkipsCommentsAndBlankLines() {
        List<PrometheusText.Sample> samples = PrometheusText.parse("""
                # HELP canary_proxy_requests_total Requests answered
                # TYPE canary_proxy_requests_total counter
                canary_proxy_requests_total{release="blue",status="2xx"} 7.0
                canary_proxy_requests_total{release="blue",status="5xx"} 1

                canary_proxy_canary_weight_percent 12.5
                lat_bucket{le="+Inf",release="blue"} 8 1700000000000
                lat_bucket{le="0.005" , release="blue",} 3
                odd{path="a \\"quoted\\" \\\\ back\\nslash"} -Inf
                nan NaN
                sci 1.5e-3
                """);
        assertThat(samples).hasSize(8);
        assertThat(samples.get(0)).isEqualTo(new PrometheusText.Sample("canary_proxy_requests_total",
                Map.of("release", "blue", "status", "2xx"), 7.0));
        assertThat(samples.get(2).labels()).isEmpty();
        assertThat(samples.get(2).value()).isEqualTo(12.5);
        assertThat(samples.get(3).label("le")).isEqualTo("+Inf");
        assertThat(samples.get(3).value()).isEqualTo(8);
        assertThat(samples.get(4).labels()).containsOnlyKeys("le", "release");
        assertThat(samples.get(5).label("path")).isEqualTo("a \"quoted\" \\ back\nslash");
        assertThat(samples.get(5).value()).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(samples.get(6).value()).isNaN();
        assertThat(samples.get(7).value()).isEqualTo(0.0015);

        assertThat(PrometheusText.sum(samples, "canary_proxy_requests_total", Map.of("release", "blue"))).isEqualTo(8);
        assertThat(PrometheusText.sum(samples, "canary_proxy_requests_total", Map.of("status", "5xx"))).isEqualTo(1);
        assertThat(PrometheusText.has(samples, "nan")).isTrue();
        assertThat(PrometheusText.has(samples, "nope")).isFalse();
    }

    @Test
    void aLineThatIsNotASampleIsNamed() {
        assertThatThrownBy(() -> PrometheusText.parse("ok 1\nbroken{a=\"x\" 2\n"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("line 2 is not a sample");
        assertThatThrownBy(() -> PrometheusText.parse("name one"))
                .hasMessageContaining("not a number: \"one\"");
        assertThatThrownBy(() -> PrometheusText.parse("{a=\"b\"} 1"))
                .hasMessageContaining("expected a metric name");
        assertThatThrownBy(() -> PrometheusText.parse("name{a=\"b} 1"))
                .hasMessageContaining("unterminated label value");
    }
}
