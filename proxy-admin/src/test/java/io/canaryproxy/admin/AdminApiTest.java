package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.canaryproxy.config.AdminConfig;
import io.canaryproxy.config.HostPort;
import io.canaryproxy.routing.RouteTable;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The admin API's HTTP behaviour, against a {@link FakeProxy}: no data plane needed. */
class AdminApiTest {

    private static final String TOKEN = "s3cret";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private FakeProxy proxy;
    private AdminServer server;
    private String base;

    @BeforeEach
    void start() {
        proxy = new FakeProxy();
        server = new AdminServer(proxy, new AdminConfig(new HostPort("127.0.0.1", 0), TOKEN)).start();
        base = "http://127.0.0.1:" + server.address().getPort();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void healthz() throws Exception {
        HttpResponse<String> r = get("/healthz");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(json(r).get("status").asText()).isEqualTo("ok");
        assertThat(r.body()).endsWith("\n");
    }

    @Test
    void statusShowsTheRouteTableAndEveryRelease() throws Exception {
        proxy.blueInflight = 2;
        HttpResponse<String> r = get("/status");
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode status = json(r);
        assertThat(status.get("stable").asText()).isEqualTo("blue");
        assertThat(status.get("canary").isNull()).isTrue();
        assertThat(status.get("weight").isNumber()).isTrue();
        assertThat(status.get("weight").asDouble()).isZero();
        assertThat(status.get("version").asLong()).isEqualTo(1);
        assertThat(status.get("releases").fieldNames()).toIterable().containsExactly("blue", "green");
        JsonNode blue = status.get("releases").get("blue");
        assertThat(blue.get("endpoints").get(0).get("address").asText()).isEqualTo("127.0.0.1:8001");
        assertThat(blue.get("endpoints").get(0).get("healthy").asBoolean()).isTrue();
        assertThat(blue.get("endpoints").get(0).get("connections").asLong()).isEqualTo(2);
        assertThat(blue.get("inflight").asLong()).isEqualTo(2);
        assertThat(blue.get("connections").asLong()).isEqualTo(2);
        assertThat(blue.get("upgraded").asLong()).isZero();
        assertThat(blue.get("drained").asBoolean()).isFalse();
        assertThat(status.get("releases").get("green").get("drained").asBoolean()).isTrue();
        assertThat(get("/status/").statusCode()).isEqualTo(200);
    }

    @Test
    void weightIsAPercentage() throws Exception {
        proxy.routes = new RouteTable("blue", "green", 1250, 7, Instant.now());
        assertThat(json(get("/status")).get("weight").asDouble()).isEqualTo(12.5);
        proxy.routes = new RouteTable("blue", "green", 1000, 8, Instant.now());
        JsonNode status = json(get("/status"));
        assertThat(status.get("weight").isIntegralNumber()).isTrue();
        assertThat(status.get("weight").asInt()).isEqualTo(10);
        assertThat(status.get("canary").asText()).isEqualTo("green");
    }

    @Test
    void switchMakesTheReleaseStableAndLogsWhoDidIt() throws Exception {
        ListAppender<ILoggingEvent> logged = captureLog();
        try {
            HttpResponse<String> r = post("/switch?release=green", TOKEN);
            assertThat(r.statusCode()).isEqualTo(200);
            JsonNode table = json(r);
            assertThat(table.get("stable").asText()).isEqualTo("green");
            assertThat(table.get("canary").isNull()).isTrue();
            assertThat(table.get("weight").asDouble()).isZero();
            assertThat(table.get("version").asLong()).isEqualTo(2);
            assertThat(table.get("previous").asText()).isEqualTo("blue");
            assertThat(proxy.routes().stable()).isEqualTo("green");
            assertThat(json(get("/status")).get("stable").asText()).isEqualTo("green");
        } finally {
            releaseLog(logged);
        }
        assertThat(logged.list).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.INFO);
            assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:").contains("switch: blue -> green");
        });
    }

    @Test
    void mutationsNeedTheToken() throws Exception {
        HttpResponse<String> none = post("/switch?release=green", null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.headers().firstValue("www-authenticate")).hasValueSatisfying(v -> assertThat(v)
                .startsWith("Bearer"));
        assertThat(json(none).get("error").asText()).contains("Authorization: Bearer");

        HttpResponse<String> wrong = post("/switch?release=green", "guess");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(json(wrong).get("error").asText()).isEqualTo("wrong bearer token");

        HttpResponse<String> basic = send(HttpRequest.newBuilder(uri("/switch?release=green"))
                .header("Authorization", "Basic Zm9vOmJhcg==")
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertThat(basic.statusCode()).isEqualTo(401);

        assertThat(post("/switch?release=nope", null).statusCode()).isEqualTo(401);
        assertThat(proxy.routes().stable()).isEqualTo("blue");
        // reads need no token
        assertThat(get("/status").statusCode()).isEqualTo(200);
    }

    @Test
    void withoutATokenMutationsAreOpenOnLoopback() throws Exception {
        try (AdminServer open = new AdminServer(proxy, new AdminConfig(new HostPort("127.0.0.1", 0), "")).start()) {
            HttpResponse<String> r = send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + open.address().getPort() + "/switch?release=green"))
                    .POST(HttpRequest.BodyPublishers.noBody()));
            assertThat(r.statusCode()).isEqualTo(200);
        }
    }

    @Test
    void unknownReleaseIsABadRequestNamingTheKnownOnes() throws Exception {
        HttpResponse<String> r = post("/switch?release=purple", TOKEN);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green)");
    }

    @Test
    void missingOrMalformedParametersAreBadRequests() throws Exception {
        HttpResponse<String> missing = post("/switch", TOKEN);
        assertThat(missing.statusCode()).isEqualTo(400);
        assertThat(json(missing).get("error").asText()).contains("missing query parameter 'release'");

        HttpResponse<String> badForce = post("/switch?release=green&force=please", TOKEN);
        assertThat(badForce.statusCode()).isEqualTo(400);
        assertThat(json(badForce).get("error").asText()).contains("'force'");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
    }

    @Test
    void switchToAReleaseWithoutHealthyEndpointIsAConflictUnlessForced() throws Exception {
        proxy.unhealthy.add("green");
        HttpResponse<String> refused = post("/switch?release=green", TOKEN);
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText()).isEqualTo("release green has no healthy endpoint");
        assertThat(proxy.routes().stable()).isEqualTo("blue");

        HttpResponse<String> forced = post("/switch?release=green&force=true", TOKEN);
        assertThat(forced.statusCode()).isEqualTo(200);
        assertThat(json(forced).get("stable").asText()).isEqualTo("green");
    }

    @Test
    void unknownPathIsNotFound() throws Exception {
        HttpResponse<String> r = get("/nope");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(json(r).get("error").asText()).contains("/nope").contains("/status");
        assertThat(get("/").statusCode()).isEqualTo(404);
    }

    @Test
    void wrongMethodIsNotAllowedWithAnAllowHeader() throws Exception {
        HttpResponse<String> getSwitch = get("/switch?release=green");
        assertThat(getSwitch.statusCode()).isEqualTo(405);
        assertThat(getSwitch.headers().firstValue("allow")).hasValue("POST");
        assertThat(json(getSwitch).get("error").asText()).contains("GET").contains("/switch");
        assertThat(proxy.routes().stable()).isEqualTo("blue");

        HttpResponse<String> postStatus = post("/status", TOKEN);
        assertThat(postStatus.statusCode()).isEqualTo(405);
        assertThat(postStatus.headers().firstValue("allow")).hasValue("GET, HEAD");

        HttpResponse<String> delete = send(HttpRequest.newBuilder(uri("/drain?release=blue")).DELETE());
        assertThat(delete.statusCode()).isEqualTo(405);
        assertThat(json(delete).get("error").asText()).isNotEmpty();
    }

    @Test
    void headIsAGetWithoutBody() throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(uri("/status"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEmpty();
    }

    @Test
    void drainAnswersWhenTheReleaseIsDrained() throws Exception {
        CompletableFuture<HttpResponse<String>> pending = sendAsync(HttpRequest.newBuilder(
                uri("/drain?release=blue&timeout=10s")).GET());
        CompletableFuture<?> drain = awaitDrainCall("blue");
        assertThat(proxy.drainTimeouts.get("blue")).isEqualTo(Duration.ofSeconds(10));
        assertThat(pending).isNotDone();

        proxy.drains.get("blue").complete(FakeProxy.release("blue", 0));
        HttpResponse<String> r = pending.get(5, TimeUnit.SECONDS);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("release").asText()).isEqualTo("blue");
        assertThat(body.get("drained").asBoolean()).isTrue();
        assertThat(body.get("inflight").asLong()).isZero();
        assertThat(body.get("connections").asLong()).isZero();
        assertThat(drain).isDone();
    }

    @Test
    void drainThatTimesOutIsUnavailableAndSaysWhatIsStillOpen() throws Exception {
        CompletableFuture<HttpResponse<String>> pending = sendAsync(HttpRequest.newBuilder(
                uri("/drain?release=blue")).GET());
        awaitDrainCall("blue");
        assertThat(proxy.drainTimeouts.get("blue")).isEqualTo(AdminHandler.DEFAULT_DRAIN_TIMEOUT);
        proxy.drains.get("blue").complete(FakeProxy.release("blue", 3));
        HttpResponse<String> r = pending.get(5, TimeUnit.SECONDS);
        assertThat(r.statusCode()).isEqualTo(503);
        JsonNode body = json(r);
        assertThat(body.get("drained").asBoolean()).isFalse();
        assertThat(body.get("inflight").asLong()).isEqualTo(3);
        assertThat(body.get("connections").asLong()).isEqualTo(3);
        assertThat(body.get("endpoints").get(0).get("connections").asLong()).isEqualTo(3);
    }

    @Test
    void drainDoesNotBlockTheAdminApi() throws Exception {
        CompletableFuture<HttpResponse<String>> pending = sendAsync(HttpRequest.newBuilder(
                uri("/drain?release=blue&timeout=1m")).GET());
        awaitDrainCall("blue");
        // the admin API has a single event-loop thread: this answer proves the drain is not waiting on it
        HttpClient other = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> health = other.send(HttpRequest.newBuilder(uri("/healthz")).timeout(Duration.ofSeconds(5))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(pending).isNotDone();
        proxy.drains.get("blue").complete(FakeProxy.release("blue", 0));
        assertThat(pending.get(5, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }

    @Test
    void drainFallsBackToTheStatusWhenTheProxyNeverAnswers() throws Exception {
        proxy.blueInflight = 1;
        long start = System.nanoTime();
        HttpResponse<String> r = send(HttpRequest.newBuilder(uri("/drain?release=blue&timeout=0s")).GET()
                .timeout(Duration.ofSeconds(15)));
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(json(r).get("inflight").asLong()).isEqualTo(1);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void drainRejectsBadParameters() throws Exception {
        HttpResponse<String> badTimeout = get("/drain?release=blue&timeout=soon");
        assertThat(badTimeout.statusCode()).isEqualTo(400);
        assertThat(json(badTimeout).get("error").asText()).contains("timeout").contains("30s");

        HttpResponse<String> unknown = get("/drain?release=purple");
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(json(unknown).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green)");

        assertThat(get("/drain").statusCode()).isEqualTo(400);
        assertThat(get("/drain?release=blue&timeout=3h").statusCode()).isEqualTo(400);
        assertThat(proxy.drains).isEmpty();
    }

    @Test
    void pipelinedRequestsBehindADrainAreAnsweredInOrder() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.address().getPort())) {
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /drain?release=blue HTTP/1.1\r\nHost: admin\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"
                    + "GET /status HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            awaitDrainCall("blue");
            Thread.sleep(100);
            assertThat(socket.getInputStream().available()).isZero();
            proxy.drains.get("blue").complete(FakeProxy.release("blue", 0));
            String all = readAll(socket.getInputStream());
            int drain = all.indexOf("\"release\"");
            int health = all.indexOf("\"status\" : \"ok\"");
            int status = all.indexOf("\"releases\"");
            assertThat(drain).isPositive();
            assertThat(health).isGreaterThan(drain);
            assertThat(status).isGreaterThan(health);
        }
    }

    @Test
    void malformedRequestGetsAJsonBadRequest() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.address().getPort())) {
            socket.setSoTimeout(5000);
            socket.getOutputStream().write("GET /status HTTP/1.1\r\nHost: admin\r\nContent-Length: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            String all = readAll(socket.getInputStream());
            assertThat(all).startsWith("HTTP/1.1 400").contains("\"error\"");
        }
    }

    @Test
    void anOversizedRequestGetsAJson413() throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(uri("/switch?release=green"))
                .header("Authorization", "Bearer " + TOKEN)
                .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[AdminServer.MAX_REQUEST_BYTES + 1])));
        assertThat(r.statusCode()).isEqualTo(413);
        assertThat(json(r).get("error").asText()).contains("64 KiB");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
    }

    @Test
    void closeStopsListening() {
        int port = server.address().getPort();
        server.close();
        server.close();
        assertThatThrownBy(() -> new Socket("127.0.0.1", port).close())
                .isInstanceOf(IOException.class);
    }

    @Test
    void aPortInUseIsAStartupExceptionNamingTheAddress() {
        int port = server.address().getPort();
        AdminServer second = new AdminServer(proxy, new AdminConfig(new HostPort("127.0.0.1", port), TOKEN));
        assertThatThrownBy(second::start)
                .isInstanceOf(StartupException.class)
                .hasMessage("cannot listen for the admin API on 127.0.0.1:" + port + ": Address already in use");
    }

    private CompletableFuture<?> awaitDrainCall(String release) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!proxy.drains.containsKey(release)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the admin API never asked the proxy to drain " + release);
            }
            Thread.sleep(10);
        }
        return proxy.drains.get(release);
    }

    private static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        try {
            int n;
            while ((n = in.read(buffer)) > 0) {
                bytes.write(buffer, 0, n);
            }
        } catch (SocketTimeoutException e) {
            // return what came
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private ListAppender<ILoggingEvent> captureLog() {
        Logger logger = (Logger) LoggerFactory.getLogger(AdminServer.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        logger.setLevel(Level.INFO);
        return appender;
    }

    private static void releaseLog(ListAppender<ILoggingEvent> appender) {
        Logger logger = (Logger) LoggerFactory.getLogger(AdminServer.class);
        logger.detachAppender(appender);
        logger.setLevel(null);
    }

    private URI uri(String pathAndQuery) {
        return URI.create(base + pathAndQuery);
    }

    private HttpResponse<String> get(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(uri(pathAndQuery)).GET());
    }

    private HttpResponse<String> post(String pathAndQuery, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(pathAndQuery)).POST(HttpRequest.BodyPublishers.noBody());
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return send(b);
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return client.send(request.timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private CompletableFuture<HttpResponse<String>> sendAsync(HttpRequest.Builder request) {
        return client.sendAsync(request.timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body());
    }
}
