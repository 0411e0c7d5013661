package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.captureLog;
import static io.canaryproxy.admin.AdminCalls.json;
import static io.canaryproxy.admin.AdminCalls.releaseLog;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.config.AdminConfig;
import io.canaryproxy.config.HostPort;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.RawHttpClient;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API in front of a real {@link CanaryProxy} whose releases blue and green are real gunicorns serving the
 * test Django app ({@link AdminFixture}): {@code GET /slow?ms=N} is answered only after N ms, which holds a request in
 * flight for as long as a test needs ({@link #SLOW} on blue).
 */
class AdminApiTest {

    private static final String TOKEN = AdminFixture.TOKEN;
    private static final Duration SLOW = Duration.ofSeconds(6);

    private static AdminFixture fixture;
    private static Gunicorn blue;
    private static Gunicorn green;

    @TempDir
    Path dir;

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private CanaryProxy proxy;
    private AdminServer server;
    private String base;

    @BeforeAll
    static void startReleases() {
        fixture = new AdminFixture();
        blue = fixture.blue();
        green = fixture.green();
    }

    @AfterAll
    static void stopReleases() {
        if (fixture != null) {
            fixture.close();
        }
    }

    @BeforeEach
    void start() {
        base = fixture.start("").adminUrl();
        proxy = fixture.proxy();
        server = fixture.server();
    }

    @AfterEach
    void stop() {
        fixture.stop();
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
    void statusShowsTheRouteTableAndEveryReleaseInConfigurationOrder() throws Exception {
        HttpResponse<String> r = get("/status");
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode status = json(r);
        assertThat(status.get("stable").asText()).isEqualTo("blue");
        assertThat(status.get("canary").isNull()).isTrue();
        assertThat(status.get("weight").isNumber()).isTrue();
        assertThat(status.get("weight").asDouble()).isZero();
        assertThat(status.get("version").asLong()).isEqualTo(proxy.routes().version());
        assertThat(status.get("releases").fieldNames()).toIterable().containsExactly("blue", "green");
        JsonNode blueStatus = status.get("releases").get("blue");
        JsonNode endpoint = blueStatus.get("endpoints").get(0);
        assertThat(endpoint.get("address").asText()).isEqualTo("127.0.0.1:" + blue.port());
        assertThat(endpoint.get("healthy").asBoolean()).isTrue();
        assertThat(endpoint.get("connections").asLong()).isZero();
        assertThat(endpoint.get("removed").isBoolean()).isTrue();
        assertThat(endpoint.get("removed").asBoolean()).isFalse();
        assertThat(endpoint.get("problem").isNull()).as("healthy").isTrue();
        assertThat(blueStatus.get("inflight").asLong()).isZero();
        assertThat(blueStatus.get("connections").asLong()).isZero();
        assertThat(blueStatus.get("upgraded").asLong()).isZero();
        // idle, but stable: its next user may come any time
        assertThat(blueStatus.get("routed").asBoolean()).isTrue();
        assertThat(blueStatus.get("drained").asBoolean()).isFalse();
        assertThat(status.get("releases").get("green").get("routed").asBoolean()).isFalse();
        assertThat(status.get("releases").get("green").get("drained").asBoolean()).isTrue();
        assertThat(status.get("releases").get("green").get("endpoints").get(0).get("address").asText())
                .isEqualTo("127.0.0.1:" + green.port());
        assertThat(get("/status/").statusCode()).isEqualTo(200);
    }

    /**
     * A client that starts a request and never finishes it (slowloris), or keeps a connection open and silent, is
     * closed after {@code limits.client-idle-timeout}, as on the public port; one waiting for a drain is not.
     */
    @Test
    void aSilentConnectionIsClosedAfterTheIdleTimeoutButADrainWaiterIsNot() throws Exception {
        try (CanaryProxy quick = CanaryProxy.start(fixture.config("""
                proxy.limits.client-idle-timeout = 2s
                proxy.drain.timeout = 1s
                """));
                AdminServer admin = new AdminServer(quick, quick.config().admin()).start();
                java.net.Socket slow = new java.net.Socket("127.0.0.1", admin.address().getPort());
                RawHttpClient tester = new RawHttpClient(quick.listenAddress())) {
            slow.setSoTimeout(10_000);
            slow.getOutputStream().write("GET /status HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));

            // A tester's request that green answers only after the test keeps green from draining.
            CompletableFuture.runAsync(() -> {
                try {
                    tester.get("/slow?ms=20000", java.util.Map.of("Cookie", "cp_release=green"));
                } catch (java.io.IOException ended) {
                    // the proxy stops under it at the end of the test
                }
            });
            await().atMost(Duration.ofSeconds(5)).until(() -> quick.status().releases().get("green").inflight() == 1);
            assertThat(slow.getInputStream().read()).as("closed").isEqualTo(-1);

            // Connected just before its request, so that the idle checks come 2 s, 4 s and 6 s after it, whatever
            // the wait above took. The drain answers at its timeout, 5.4 s after the request.
            try (java.net.Socket waiter = new java.net.Socket("127.0.0.1", admin.address().getPort())) {
                waiter.setSoTimeout(15_000);
                waiter.getOutputStream().write(("GET /drain?release=green&timeout=5400ms HTTP/1.1\r\nHost: x\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                InputStream answer = waiter.getInputStream();
                String head = HttpHeads.read(answer);
                assertThat(head).as("not drained, after waiting out two idle checks").startsWith("HTTP/1.1 503 ");
                answer.readNBytes(Integer.parseInt(head.replaceAll("(?s).*content-length: (\\d+).*", "$1")));
                // Its idle time starts with the answer, not with the request it read 5.4 s ago: the check at 6 s,
                // a moment after the answer, leaves it open, and the one at 8 s closes it.
                waiter.setSoTimeout(1_000);
                assertThatThrownBy(answer::read).isInstanceOf(SocketTimeoutException.class);
                waiter.setSoTimeout(15_000);
                assertThat(answer.read()).as("closed once idle").isEqualTo(-1);
            }
        }
    }

    /** {@code 0.0.0.0} is IPv4's wildcard, as on the public listener: an IPv6 client is not let in through it. */
    @Test
    void anAdminListenerOnTheIpv4WildcardTakesNoIpv6Connection() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.canaryproxy.testing.Ports.ipv6Loopback(), "no IPv6 here");
        try (CanaryProxy any = CanaryProxy.start(fixture.config("proxy.admin.listen = \"0.0.0.0:0\""));
                AdminServer admin = new AdminServer(any, any.config().admin()).start()) {
            int port = admin.address().getPort();
            assertThat(admin.address().getAddress().getHostAddress()).isEqualTo("0.0.0.0");
            try (Socket v4 = new Socket("127.0.0.1", port)) {
                assertThat(v4.isConnected()).isTrue();
            }
            assertThatThrownBy(() -> new Socket("::1", port).close()).isInstanceOf(java.net.ConnectException.class);
        }
    }

    @Test
    void weightIsAPercentage() throws Exception {
        try (CanaryProxy canary = CanaryProxy.start(fixture.config("proxy.routing { canary = green, weight = 12.5 }"));
                AdminServer admin = new AdminServer(canary, canary.config().admin()).start()) {
            assertThat(json(get(admin, "/status")).get("weight").asDouble()).isEqualTo(12.5);
        }
        try (CanaryProxy canary = CanaryProxy.start(fixture.config("proxy.routing { canary = green, weight = 10 }"));
                AdminServer admin = new AdminServer(canary, canary.config().admin()).start()) {
            JsonNode status = json(get(admin, "/status"));
            assertThat(status.get("weight").isIntegralNumber()).isTrue();
            assertThat(status.get("weight").asInt()).isEqualTo(10);
            assertThat(status.get("canary").asText()).isEqualTo("green");
        }
    }

    @Test
    void switchSendsNewRequestsToTheNewReleaseAndLogsWhoDidIt() throws Exception {
        assertThat(viaProxy("/").body()).isEqualTo("release=blue\n");
        long before = proxy.routes().version();
        ListAppender<ILoggingEvent> logged = captureLog();
        try {
            HttpResponse<String> r = post("/switch?release=green", TOKEN);
            assertThat(r.statusCode()).isEqualTo(200);
            JsonNode table = json(r);
            assertThat(table.get("stable").asText()).isEqualTo("green");
            assertThat(table.get("canary").isNull()).isTrue();
            assertThat(table.get("weight").asDouble()).isZero();
            assertThat(table.get("version").asLong()).isEqualTo(before + 1);
            assertThat(table.get("previous").asText()).isEqualTo("blue");
        } finally {
            releaseLog(logged);
        }
        assertThat(proxy.routes().stable()).isEqualTo("green");
        assertThat(json(get("/status")).get("stable").asText()).isEqualTo("green");
        HttpResponse<String> page = viaProxy("/");
        assertThat(page.body()).isEqualTo("release=green\n");
        assertThat(page.headers().firstValue("x-release")).hasValue("green");
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
        assertThat(viaProxy("/").body()).isEqualTo("release=blue\n");
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
            assertThat(proxy.routes().stable()).isEqualTo("green");
        }
    }

    @Test
    void aStateFileThatCannotBeWrittenIsA500SayingWhyAndNothingChanges() throws Exception {
        Path notADirectory = dir.resolve("var");
        Path stateFile = notADirectory.resolve("x.json");
        String expected = "cannot write state file " + stateFile + ": " + notADirectory + ": Not a directory";
        try (CanaryProxy unwritable = CanaryProxy.start(fixture.config("proxy.state-file = \"" + stateFile + "\""));
                AdminServer admin = new AdminServer(unwritable, unwritable.config().admin()).start()) {
            // after the start, a regular file where the state file's directory was: unwritable for root too
            Files.delete(notADirectory.resolve("x.json.lock")); // the running proxy's lock
            Files.delete(notADirectory);
            Files.writeString(notADirectory, "not a directory\n");
            String url = "http://127.0.0.1:" + admin.address().getPort();
            ListAppender<ILoggingEvent> logged = captureLog();
            try {
                for (String mutation : new String[] {"/switch?release=green", "/canary?release=green&weight=10",
                    "/canary/start?release=green"}) {
                    HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(url + mutation))
                            .header("Authorization", "Bearer " + TOKEN).POST(HttpRequest.BodyPublishers.noBody()));
                    assertThat(r.statusCode()).as(mutation).isEqualTo(500);
                    assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
                    JsonNode body = json(r);
                    assertThat(body.fieldNames()).toIterable().containsExactly("error");
                    assertThat(body.get("error").asText()).as(mutation).isEqualTo(expected);
                }
            } finally {
                releaseLog(logged);
            }
            assertThat(unwritable.routes().stable()).isEqualTo("blue");
            assertThat(unwritable.routes().canary()).isNull();
            assertThat(unwritable.routes().version()).isZero();
            assertThat(unwritable.status().analysis().state()).isEqualTo(Analysis.State.IDLE);
            assertThat(logged.list).filteredOn(e -> e.getLevel() == Level.ERROR).hasSize(3).allSatisfy(e -> {
                assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:").endsWith(" failed: " + expected);
                assertThat(e.getThrowableProxy()).isNull();
            });
        }
    }

    @Test
    void unknownReleaseIsABadRequestNamingTheKnownOnes() throws Exception {
        HttpResponse<String> r = post("/switch?release=purple", TOKEN);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green)");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
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

        // A misspelt parameter is not ignored: the operator meant something by it.
        HttpResponse<String> misspelt = post("/switch?release=green&forse=true", TOKEN);
        assertThat(misspelt.statusCode()).isEqualTo(400);
        assertThat(json(misspelt).get("error").asText())
                .isEqualTo("unknown query parameter 'forse' for /switch (known: release, force)");
        HttpResponse<String> none = post("/promote?release=green", TOKEN);
        assertThat(none.statusCode()).isEqualTo(400);
        assertThat(json(none).get("error").asText())
                .isEqualTo("unknown query parameter 'release' for /promote, which takes none");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
        assertThat(get("/status?nocache=1").statusCode()).as("reads take any").isEqualTo(200);
    }

    @Test
    void switchToAReleaseWithoutHealthyEndpointIsAConflictUnlessForced() throws Exception {
        fixture.unhealthy("green", true);
        await("green's only endpoint reported unhealthy").atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> !json(get("/status")).get("releases").get("green").get("endpoints").get(0)
                        .get("healthy").asBoolean());
        long version = proxy.routes().version();

        HttpResponse<String> refused = post("/switch?release=green", TOKEN);
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText())
                .isEqualTo("release 'green' has no healthy endpoint (127.0.0.1:" + green.port()
                        + ": GET /healthz answered 503); start it first, or force the switch");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
        assertThat(proxy.routes().version()).isEqualTo(version);
        assertThat(viaProxy("/").body()).isEqualTo("release=blue\n");

        HttpResponse<String> forced = post("/switch?release=green&force=true", TOKEN);
        assertThat(forced.statusCode()).isEqualTo(200);
        assertThat(json(forced).get("stable").asText()).isEqualTo("green");
        assertThat(viaProxy("/").body()).isEqualTo("release=green\n");
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
    void drainAnswersOnceTheOldReleaseIsDrained() throws Exception {
        assertThat(viaProxy("/").body()).isEqualTo("release=blue\n");
        assertThat(proxy.status().releases().get("blue").connections()).isPositive();
        assertThat(post("/switch?release=green", TOKEN).statusCode()).isEqualTo(200);

        ListAppender<ILoggingEvent> logged = captureLog();
        HttpResponse<String> r;
        HttpResponse<String> live;
        try {
            r = get("/drain?release=blue&timeout=10s");
            live = get("/drain?release=green");
        } finally {
            releaseLog(logged);
        }
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("release").asText()).isEqualTo("blue");
        assertThat(body.get("drained").asBoolean()).isTrue();
        assertThat(body.get("routed").asBoolean()).isFalse();
        assertThat(body.get("inflight").asLong()).isZero();
        assertThat(body.get("connections").asLong()).isZero();
        assertThat(body.get("endpoints").get(0).get("connections").asLong()).isZero();
        assertThat(body.get("requests")).isEmpty();

        // green is stable now: refused at once, however idle it is, so that no script stops the live release
        assertThat(live.statusCode()).isEqualTo(409);
        assertThat(json(live).get("error").asText())
                .isEqualTo("release 'green' still gets traffic: it is the stable release; switch away from it before"
                        + " draining it");
        assertThat(logged.list).extracting(ILoggingEvent::getFormattedMessage)
                .anySatisfy(m -> assertThat(m).endsWith("waiting up to 10s for release blue to drain"));
    }

    @Test
    void drainOfTheCanaryIsRefusedUntilItIsRolledBack() throws Exception {
        assertThat(post("/canary?release=green&weight=10", TOKEN).statusCode()).isEqualTo(200);
        HttpResponse<String> refused = get("/drain?release=green&timeout=1s");
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText()).contains("it is the canary");

        assertThat(post("/rollback", TOKEN).statusCode()).isEqualTo(200);
        HttpResponse<String> drained = get("/drain?release=green&timeout=10s");
        assertThat(drained.statusCode()).isEqualTo(200);
        assertThat(json(drained).get("drained").asBoolean()).isTrue();
    }

    @Test
    void drainThatTimesOutIsUnavailableAndSaysWhatIsStillOpen() throws Exception {
        CompletableFuture<HttpResponse<String>> slow = requestInFlightOnBlue();

        JsonNode blueStatus = json(get("/status")).get("releases").get("blue");
        assertThat(blueStatus.get("inflight").asLong()).isEqualTo(1);
        assertThat(blueStatus.get("connections").asLong()).isEqualTo(1);
        assertThat(blueStatus.get("endpoints").get(0).get("connections").asLong()).isEqualTo(1);
        assertThat(blueStatus.get("drained").asBoolean()).isFalse();
        assertThat(post("/switch?release=green", TOKEN).statusCode()).isEqualTo(200);

        long start = System.nanoTime();
        HttpResponse<String> r = get("/drain?release=blue&timeout=300ms");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(slow).as("the request in flight").isNotDone();
        assertThat(took).isGreaterThanOrEqualTo(Duration.ofMillis(300)).isLessThan(SLOW);
        assertThat(r.statusCode()).isEqualTo(503);
        JsonNode body = json(r);
        assertThat(body.get("release").asText()).isEqualTo("blue");
        assertThat(body.get("drained").asBoolean()).isFalse();
        assertThat(body.get("routed").asBoolean()).isFalse();
        assertThat(body.get("inflight").asLong()).isEqualTo(1);
        assertThat(body.get("connections").asLong()).isEqualTo(1);
        assertThat(body.get("endpoints").get(0).get("connections").asLong()).isEqualTo(1);
        // What the drain waits for, so that the operator can decide whether to wait longer.
        assertThat(body.get("requests")).hasSize(1);
        JsonNode waitedFor = body.get("requests").get(0);
        assertThat(waitedFor.get("method").asText()).isEqualTo("GET");
        // the query (ms=6000) is held back: a query may carry a token
        assertThat(waitedFor.get("path").asText()).isEqualTo("/slow?…");
        assertThat(waitedFor.get("client").asText()).isEqualTo("127.0.0.1");
        assertThat(waitedFor.get("stage").asText()).isEqualTo("waiting");
        assertThat(waitedFor.get("status").isNull()).isTrue();
        assertThat(waitedFor.get("staticFile").asBoolean()).isFalse();
        assertThat(waitedFor.get("ageMs").asLong()).isGreaterThanOrEqualTo(300);

        HttpResponse<String> now = get("/drain?release=blue&timeout=0s");
        assertThat(slow).isNotDone();
        assertThat(now.statusCode()).isEqualTo(503);
        assertThat(json(now).get("inflight").asLong()).isEqualTo(1);

        HttpResponse<String> answered = slow.get(10, TimeUnit.SECONDS);
        assertThat(answered.statusCode()).isEqualTo(200);
        assertThat(answered.body()).isEqualTo("slept " + SLOW.toMillis() + " ms\n");
    }

    @Test
    void pipelinedRequestsBehindAPendingDrainAreAnsweredInOrderWithoutBlockingOtherConnections() throws Exception {
        CompletableFuture<HttpResponse<String>> slow = requestInFlightOnBlue();
        assertThat(post("/switch?release=green", TOKEN).statusCode()).isEqualTo(200);

        try (Socket socket = new Socket("127.0.0.1", server.address().getPort())) {
            socket.setSoTimeout((int) SLOW.multipliedBy(5).toMillis());
            OutputStream out = socket.getOutputStream();
            out.write(("GET /drain?release=blue&timeout=10s HTTP/1.1\r\nHost: admin\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"
                    + "GET /status HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();

            // the admin API has a single event-loop thread: this answer proves the drain is not waiting on it
            HttpClient other = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<String> health = other.send(HttpRequest.newBuilder(uri("/healthz"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            InputStream in = socket.getInputStream();
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
                assertThat(slow).as("the request in flight").isNotDone();
                assertThat(in.available()).as("bytes answered while blue is busy").isZero();
            });

            assertThat(slow.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            String[] answers = readAll(socket.getInputStream()).split("(?=HTTP/1\\.1 )");
            assertThat(answers).hasSize(3);
            assertThat(answers[0]).startsWith("HTTP/1.1 200 ").contains("\"release\" : \"blue\"")
                    .contains("\"drained\" : true");
            assertThat(answers[1]).startsWith("HTTP/1.1 200 ").contains("\"status\" : \"ok\"");
            assertThat(answers[2]).startsWith("HTTP/1.1 200 ").contains("\"releases\"")
                    .contains("\"stable\" : \"green\"");
        }
    }

    @Test
    void drainRejectsBadParameters() throws Exception {
        ListAppender<ILoggingEvent> logged = captureLog();
        try {
            HttpResponse<String> badTimeout = get("/drain?release=blue&timeout=soon");
            assertThat(badTimeout.statusCode()).isEqualTo(400);
            assertThat(json(badTimeout).get("error").asText()).contains("timeout").contains("30s");

            HttpResponse<String> unknown = get("/drain?release=purple");
            assertThat(unknown.statusCode()).isEqualTo(400);
            assertThat(json(unknown).get("error").asText())
                    .isEqualTo("unknown release 'purple' (known: blue, green)");

            assertThat(get("/drain").statusCode()).isEqualTo(400);
            assertThat(get("/drain?release=blue&timeout=3h").statusCode()).isEqualTo(400);
        } finally {
            releaseLog(logged);
        }
        assertThat(logged.list).extracting(ILoggingEvent::getFormattedMessage)
                .as("no drain was started")
                .noneSatisfy(m -> assertThat(m).contains("waiting up to"));
    }

    /** curl sends Expect: 100-continue before a large body: the refusal is JSON too. */
    @Test
    void aTooLargeBodyAnnouncedWithExpectContinueGetsAJson413() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.address().getPort())) {
            socket.setSoTimeout(5000);
            socket.getOutputStream().write(("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 2000000\r\n"
                    + "Expect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String all = readAll(socket.getInputStream());
            assertThat(all).startsWith("HTTP/1.1 413").containsIgnoringCase("content-type: application/json")
                    .contains("{\"error\": \"request body larger than 64 KiB\"}");
        }
    }

    @Test
    void aTooLongUrlGetsAJson414SayingTheLimit() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.address().getPort())) {
            socket.setSoTimeout(5000);
            socket.getOutputStream().write(("GET /status?x=" + "a".repeat(20_000) + " HTTP/1.1\r\nHost: admin\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            String all = readAll(socket.getInputStream());
            assertThat(all).startsWith("HTTP/1.1 414").contains("\"error\" : \"request line longer than 4096 bytes\"");
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

    /** Sends {@code GET /slow?ms=SLOW} through the proxy and returns once blue counts it in flight. */
    private CompletableFuture<HttpResponse<String>> requestInFlightOnBlue() {
        CompletableFuture<HttpResponse<String>> slow = client.sendAsync(HttpRequest.newBuilder(
                proxyUri("/slow?ms=" + SLOW.toMillis())).timeout(SLOW.multipliedBy(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        await("GET /slow in flight on blue").atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(10))
                .until(() -> proxy.status().releases().get("blue").inflight() == 1);
        return slow;
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

    private URI uri(String pathAndQuery) {
        return URI.create(base + pathAndQuery);
    }

    private URI proxyUri(String path) {
        return URI.create("http://127.0.0.1:" + proxy.listenAddress().getPort() + path);
    }

    private HttpResponse<String> viaProxy(String path) throws Exception {
        return send(HttpRequest.newBuilder(proxyUri(path)).GET());
    }

    private HttpResponse<String> get(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(uri(pathAndQuery)).GET());
    }

    private HttpResponse<String> get(AdminServer admin, String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + admin.address().getPort() + pathAndQuery)).GET());
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
}
