package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The admin API in front of a real {@link CanaryProxy}: blue and green are {@link DemoBackends}, red is an endpoint
 * where nothing listens.
 */
class AdminServerWithProxyTest {

    private static final String TOKEN = "t0ken";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private DemoBackends backends;
    private CanaryProxy proxy;
    private AdminServer admin;
    private int deadPort;

    @BeforeEach
    void start() throws IOException {
        backends = DemoBackends.start("blue", "green");
        try (ServerSocket socket = new ServerSocket(0)) {
            deadPort = socket.getLocalPort();
        }
        String hocon = "proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\", token = \"" + TOKEN + "\" }\n"
                + "  state-file = \"\"\n"
                + "  releases {\n"
                + "    blue { endpoints = [\"127.0.0.1:" + backends.address("blue").getPort() + "\"] }\n"
                + "    green { endpoints = [\"127.0.0.1:" + backends.address("green").getPort() + "\"] }\n"
                + "    red { endpoints = [\"127.0.0.1:" + deadPort + "\"] }\n"
                + "  }\n"
                + "  routing { stable = blue }\n"
                + "  health-check { interval = 200ms, timeout = 200ms, rise = 1, fall = 1 }\n"
                + "}\n";
        ProxyConfig config = ConfigLoader.fromConfig(ConfigFactory.parseString(hocon));
        proxy = CanaryProxy.start(config);
        admin = new AdminServer(proxy, config.admin()).start();
    }

    @AfterEach
    void stop() {
        if (admin != null) {
            admin.close();
        }
        if (proxy != null) {
            proxy.stop();
        }
        if (backends != null) {
            backends.close();
        }
    }

    @Test
    void healthz() throws Exception {
        HttpResponse<String> r = admin("GET", "/healthz", null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).get("status").asText()).isEqualTo("ok");
    }

    @Test
    void statusShowsEveryReleaseInConfigurationOrder() throws Exception {
        HttpResponse<String> r = admin("GET", "/status", null);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode status = json(r);
        assertThat(status.get("stable").asText()).isEqualTo("blue");
        assertThat(status.get("canary").isNull()).isTrue();
        assertThat(status.get("weight").asDouble()).isZero();
        assertThat(status.get("version").isIntegralNumber()).isTrue();
        assertThat(status.get("releases").fieldNames()).toIterable().containsExactly("blue", "green", "red");
        JsonNode blue = status.get("releases").get("blue");
        assertThat(blue.get("endpoints").get(0).get("address").asText())
                .isEqualTo("127.0.0.1:" + backends.address("blue").getPort());
        assertThat(blue.get("endpoints").get(0).has("healthy")).isTrue();
        assertThat(blue.get("endpoints").get(0).has("connections")).isTrue();
        for (String field : new String[] {"inflight", "connections", "upgraded", "drained"}) {
            assertThat(blue.has(field)).as(field).isTrue();
        }
    }

    @Test
    void switchSendsNewRequestsToTheNewRelease() throws Exception {
        awaitHealthy("green");
        assertThat(viaProxy("/").body()).isEqualTo("Hello from blue\n");

        HttpResponse<String> r = admin("POST", "/switch?release=green", TOKEN);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode table = json(r);
        assertThat(table.get("stable").asText()).isEqualTo("green");
        assertThat(table.get("canary").isNull()).isTrue();
        assertThat(table.get("previous").asText()).isEqualTo("blue");
        assertThat(proxy.routes().stable()).isEqualTo("green");

        HttpResponse<String> page = viaProxy("/");
        assertThat(page.body()).isEqualTo("Hello from green\n");
        assertThat(page.headers().firstValue("x-release")).hasValue("green");
        assertThat(json(admin("GET", "/status", null)).get("stable").asText()).isEqualTo("green");
    }

    @Test
    void mutationsNeedTheToken() throws Exception {
        assertThat(admin("POST", "/switch?release=green", null).statusCode()).isEqualTo(401);
        assertThat(admin("POST", "/switch?release=green", "wrong").statusCode()).isEqualTo(401);
        assertThat(proxy.routes().stable()).isEqualTo("blue");
    }

    @Test
    void unknownReleaseIsABadRequest() throws Exception {
        HttpResponse<String> r = admin("POST", "/switch?release=purple", TOKEN);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green, red)");
        assertThat(admin("POST", "/switch", TOKEN).statusCode()).isEqualTo(400);
    }

    @Test
    void switchToAReleaseWithoutAHealthyEndpointIsAConflictUnlessForced() throws Exception {
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(json(admin("GET", "/status", null)).get("releases").get("red").get("endpoints").get(0)
                        .get("healthy").asBoolean()).isFalse());
        HttpResponse<String> refused = admin("POST", "/switch?release=red", TOKEN);
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText()).isNotEmpty();
        assertThat(proxy.routes().stable()).isEqualTo("blue");

        HttpResponse<String> forced = admin("POST", "/switch?release=red&force=true", TOKEN);
        assertThat(forced.statusCode()).isEqualTo(200);
        assertThat(proxy.routes().stable()).isEqualTo("red");
    }

    @Test
    void unknownPathAndWrongMethod() throws Exception {
        HttpResponse<String> notFound = admin("GET", "/nope", null);
        assertThat(notFound.statusCode()).isEqualTo(404);
        assertThat(json(notFound).has("error")).isTrue();

        HttpResponse<String> wrongMethod = admin("GET", "/switch?release=green", null);
        assertThat(wrongMethod.statusCode()).isEqualTo(405);
        assertThat(wrongMethod.headers().firstValue("allow")).hasValue("POST");
        assertThat(json(wrongMethod).has("error")).isTrue();
        assertThat(proxy.routes().stable()).isEqualTo("blue");
    }

    @Test
    void drainTellsWhenTheOldReleaseIsDrained() throws Exception {
        awaitHealthy("green");
        assertThat(viaProxy("/").body()).isEqualTo("Hello from blue\n");
        assertThat(admin("POST", "/switch?release=green", TOKEN).statusCode()).isEqualTo(200);

        HttpResponse<String> r = admin("GET", "/drain?release=blue&timeout=10s", null);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("release").asText()).isEqualTo("blue");
        assertThat(body.get("drained").asBoolean()).isTrue();
        assertThat(body.get("inflight").asLong()).isZero();
        assertThat(body.get("connections").asLong()).isZero();
    }

    @Test
    void drainRejectsBadParameters() throws Exception {
        assertThat(admin("GET", "/drain?release=blue&timeout=soon", null).statusCode()).isEqualTo(400);
        assertThat(admin("GET", "/drain?release=purple", null).statusCode()).isEqualTo(400);
        assertThat(admin("GET", "/drain", null).statusCode()).isEqualTo(400);
    }

    private void awaitHealthy(String release) {
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(proxy.status().releases().get(release).endpoints())
                        .allSatisfy(e -> assertThat(e.healthy()).isTrue()));
    }

    private HttpResponse<String> viaProxy(String path) throws Exception {
        return client.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxy.listenAddress().getPort() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> admin(String method, String pathAndQuery, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + admin.address().getPort() + pathAndQuery))
                .method(method, HttpRequest.BodyPublishers.noBody())
                .timeout(Duration.ofSeconds(20));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body());
    }
}
