package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.AdminConfig;
import io.canaryproxy.config.HostPort;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.TestConfigs;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The admin API refuses a listener other machines can reach unless mutations need a token. */
class AdminExposureTest {

    private static CountingBackend backend;
    private static CanaryProxy proxy;

    @BeforeAll
    static void startProxy() throws Exception {
        backend = new CountingBackend();
        proxy = CanaryProxy.start(TestConfigs.single(backend.endpoint(), ""));
    }

    @AfterAll
    static void stopProxy() throws Exception {
        if (proxy != null) {
            proxy.stop();
        }
        if (backend != null) {
            backend.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0:9901", "[::]:9901", "192.0.2.10:9901", "no-such-host.invalid:9901"})
    void refusesANonLoopbackListenerWithoutAToken(String listen) {
        AdminConfig config = new AdminConfig(HostPort.parse(listen), "");
        assertThatThrownBy(() -> AdminServer.checkExposure(config))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("refusing to start the admin API on")
                .hasMessageContaining("proxy.admin.token");
        assertThatThrownBy(() -> new AdminServer(proxy, config))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("refusing to start the admin API on");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\t"})
    void aBlankTokenCountsAsNone(String token) {
        AdminConfig config = new AdminConfig(HostPort.parse("0.0.0.0:9901"), token);
        assertThatThrownBy(() -> AdminServer.checkExposure(config)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new AdminServer(proxy, config)).isInstanceOf(IllegalStateException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0:9901", "[::]:9901", "192.0.2.10:9901"})
    void acceptsANonLoopbackListenerWithAToken(String listen) {
        assertThatCode(() -> AdminServer.checkExposure(new AdminConfig(HostPort.parse(listen), "s3cret")))
                .doesNotThrowAnyException();
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1:9901", "127.0.0.2:9901", "[::1]:9901", "localhost:9901"})
    void acceptsALoopbackListenerWithoutAToken(String listen) {
        assertThatCode(() -> AdminServer.checkExposure(new AdminConfig(HostPort.parse(listen), "")))
                .doesNotThrowAnyException();
    }

    @Test
    void anExposedListenerWithATokenServesReadsAndRefusesMutationsWithoutIt() throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try (AdminServer exposed = new AdminServer(proxy, new AdminConfig(HostPort.parse("0.0.0.0:0"), "s3cret"))
                .start()) {
            String base = "http://127.0.0.1:" + exposed.address().getPort();
            HttpResponse<String> status = client.send(HttpRequest.newBuilder(URI.create(base + "/status"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(status.statusCode()).isEqualTo(200);

            HttpResponse<String> switched = client.send(HttpRequest.newBuilder(
                            URI.create(base + "/switch?release=blue"))
                    .POST(HttpRequest.BodyPublishers.noBody())
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(switched.statusCode()).isEqualTo(401);
            assertThat(proxy.routes().version()).isZero();
        }
    }
}
