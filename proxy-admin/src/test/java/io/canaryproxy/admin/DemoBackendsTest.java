package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class DemoBackendsTest {

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void theDemoTellsWhichReleaseServedEachResponse() throws Exception {
        try (DemoBackends backends = DemoBackends.start("blue", "green")) {
            io.canaryproxy.config.ProxyConfig config = Demo.config(io.canaryproxy.config.HostPort.parse("127.0.0.1:0"),
                    io.canaryproxy.config.HostPort.parse("127.0.0.1:0"), backends.addresses());
            assertThat(config.routing().servedByHeader()).isTrue();
            assertThat(config.routing().stable()).isEqualTo("blue");
        }
    }

    @Test
    void eachBackendAnswersEveryPathWithItsReleaseName() throws Exception {
        try (DemoBackends backends = DemoBackends.start("blue", "green")) {
            assertThat(backends.addresses()).containsOnlyKeys("blue", "green");
            for (String release : new String[] {"blue", "green"}) {
                InetSocketAddress address = backends.address(release);
                assertThat(address.getAddress().isLoopbackAddress()).isTrue();
                assertThat(address.getPort()).isPositive();
                for (String path : new String[] {"/", "/some/page?x=1"}) {
                    HttpResponse<String> r = get(address, path, HttpRequest.BodyPublishers.noBody(), "GET");
                    assertThat(r.statusCode()).isEqualTo(200);
                    assertThat(r.body()).isEqualTo("Hello from " + release + "\n");
                    assertThat(r.headers().firstValue("x-release")).hasValue(release);
                }
                HttpResponse<String> health = get(address, "/healthz", HttpRequest.BodyPublishers.noBody(), "GET");
                assertThat(health.statusCode()).isEqualTo(200);
                assertThat(health.body()).isEqualTo("ok\n");
            }
            assertThat(backends.address("blue").getPort()).isNotEqualTo(backends.address("green").getPort());
        }
    }

    @Test
    void readsAPostBodyBeforeAnswering() throws Exception {
        try (DemoBackends backends = DemoBackends.start("blue")) {
            byte[] body = new byte[1 << 20];
            HttpResponse<String> r = get(backends.address("blue"), "/upload",
                    HttpRequest.BodyPublishers.ofByteArray(body), "POST");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("Hello from blue\n");
            // the connection is still usable afterwards
            assertThat(get(backends.address("blue"), "/", HttpRequest.BodyPublishers.noBody(), "GET").statusCode())
                    .isEqualTo(200);
        }
    }

    private HttpResponse<String> get(InetSocketAddress address, String path, HttpRequest.BodyPublisher body,
            String method) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + address.getPort() + path))
                .method(method, body).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
