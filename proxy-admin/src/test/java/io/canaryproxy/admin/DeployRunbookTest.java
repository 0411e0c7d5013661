package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An operator's deploy through the admin HTTP API, step by step as {@code conf/examples/deploy.sh} does it, with
 * real parts: blue is gunicorn on a Unix socket, green gunicorn on a TCP port, both serving the Django test app,
 * the proxy and its admin API are wired as {@link Main} wires them, and 20 keep-alive clients load the proxy
 * throughout (16 GET, 4 POSTing 64 KiB bodies whose echo is checked byte for byte).
 */
class DeployRunbookTest {

    private static final String TOKEN = "deploy-t0ken";

    @TempDir
    Path sockets;

    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private Gunicorn blue;
    private Gunicorn green;
    private final RunningAdmin running = new RunningAdmin();
    private CanaryProxy proxy;
    private String admin;

    @BeforeEach
    void startReleasesProxyAndAdmin() {
        blue = Gunicorn.unixSocket("blue", sockets).start();
        green = Gunicorn.tcp("green").start();
        ProxyConfig config = TestConfigs.parse("""
                proxy {
                  admin.token = "%s"
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check { interval = 300ms, timeout = 250ms, rise = 2, fall = 2 }
                }
                """.formatted(TOKEN, blue.endpoint(), green.endpoint()));
        // as Main.serve: refuse an exposed admin listener first, then the proxy, then its admin API
        AdminServer.checkExposure(config.admin());
        proxy = CanaryProxy.start(config);
        admin = running.serve(proxy, null, TOKEN).adminUrl();
    }

    @AfterEach
    void stopEverything() {
        running.stop();
        if (blue != null) {
            blue.close();
        }
        if (green != null) {
            green.close();
        }
    }

    @Test
    void deployGreenUnderLoadLosesNoRequestAndStopsBlueOnlyOnceDrained() throws Exception {
        try (LoadGenerator load = LoadGenerator.start(proxy.listenAddress(), 16, 4)) {
            load.awaitMoreSuccesses(500, Duration.ofSeconds(30));

            // stable=$(curl -fsS "$ADMIN/status" | ...["stable"]); the idle release is the next one
            String stable = json(get("/status")).get("stable").asText();
            assertThat(stable).isEqualTo("blue");
            String next = stable.equals("blue") ? "green" : "blue";

            // curl -fsS -H "Authorization: Bearer $CANARY_PROXY_TOKEN" -X POST "$ADMIN/switch?release=$next",
            // up to 30 times a second apart: a 409 means the new gunicorn is not healthy yet
            AtomicReference<HttpResponse<String>> answer = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(30)).pollDelay(Duration.ZERO).pollInterval(Duration.ofSeconds(1))
                    .until(() -> {
                        answer.set(post("/switch?release=" + next));
                        return answer.get().statusCode() != 409;
                    });
            long switchReturnedAt = System.nanoTime();
            HttpResponse<String> switched = answer.get();
            assertThat(switched.statusCode()).as("switch: %s", switched.body()).isEqualTo(200);
            assertThat(json(switched).get("stable").asText()).isEqualTo("green");
            assertThat(json(switched).get("previous").asText()).isEqualTo("blue");
            assertThat(json(get("/status")).get("stable").asText()).isEqualTo(next);

            // curl -fsS "$ADMIN/drain?release=$stable&timeout=30s": 200 once nothing is open to blue
            HttpResponse<String> drained = send(HttpRequest.newBuilder(
                    uri("/drain?release=" + stable + "&timeout=30s")).GET(), Duration.ofSeconds(40));
            assertThat(drained.statusCode()).as("drain: %s", drained.body()).isEqualTo(200);
            JsonNode drain = json(drained);
            assertThat(drain.get("release").asText()).isEqualTo("blue");
            assertThat(drain.get("drained").asBoolean()).isTrue();
            assertThat(drain.get("inflight").asLong()).isZero();
            assertThat(drain.get("connections").asLong()).isZero();

            // supervisorctl stop "gunicorn-$stable"
            blue.stop();
            load.awaitMoreSuccesses(500, Duration.ofSeconds(30));

            LoadGenerator.Stats stats = load.stop();
            assertThat(stats.failures()).as("failed requests: %s", stats).isZero();
            assertThat(stats.postSuccesses()).isPositive();
            assertThat(stats.countsByRelease()).containsKeys("blue", "green");
            assertThat(load.lastRequestAnsweredBy("blue").orElseThrow())
                    .as("no request sent after the switch returned was answered by blue")
                    .isLessThan(switchReturnedAt);

            JsonNode status = json(get("/status"));
            assertThat(status.get("stable").asText()).isEqualTo("green");
            assertThat(status.get("canary").isNull()).isTrue();
            assertThat(status.get("releases").get("blue").get("drained").asBoolean()).isTrue();
        }
    }

    @Test
    void aSwitchToAReleaseWhoseGunicornWasKilledIsRefusedAndChangesNothing() throws Exception {
        green.kill9();
        await("green's endpoint reported unhealthy").atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> !json(get("/status")).get("releases").get("green").get("endpoints").get(0)
                        .get("healthy").asBoolean());
        RouteTable before = proxy.routes();
        JsonNode statusBefore = json(get("/status"));

        HttpResponse<String> refused = post("/switch?release=green");
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText()).contains("green").contains("no healthy endpoint");

        assertThat(proxy.routes()).isEqualTo(before);
        JsonNode statusAfter = json(get("/status"));
        for (String field : new String[] {"stable", "canary", "weight", "version", "changedAt"}) {
            assertThat(statusAfter.get(field)).as(field).isEqualTo(statusBefore.get(field));
        }
        assertThat(statusAfter.get("stable").asText()).isEqualTo("blue");
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response page = client.get("/");
            assertThat(page.status()).isEqualTo(200);
            assertThat(page.bodyText()).isEqualTo("release=blue\n");
        }
    }

    private URI uri(String pathAndQuery) {
        return URI.create(admin + pathAndQuery);
    }

    private HttpResponse<String> get(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(uri(pathAndQuery)).GET(), Duration.ofSeconds(10));
    }

    private HttpResponse<String> post(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(uri(pathAndQuery))
                .header("Authorization", "Bearer " + TOKEN)
                .POST(HttpRequest.BodyPublishers.noBody()), Duration.ofSeconds(10));
    }

    private HttpResponse<String> send(HttpRequest.Builder request, Duration timeout) throws Exception {
        return http.send(request.timeout(timeout).build(), HttpResponse.BodyHandlers.ofString());
    }
}
