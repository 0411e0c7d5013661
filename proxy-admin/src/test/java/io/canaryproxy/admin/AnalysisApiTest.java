package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /canary/start}, {@code /canary/pause}, {@code /canary/resume} and the analysis in {@code GET /status},
 * against a real {@link CanaryProxy} with fast analysis settings (a check every 200 ms, steps 10 % and 100 %, 5 canary
 * requests enough to judge), whose releases blue and green are real gunicorns serving the test Django app
 * ({@link AdminFixture}). Traffic goes through the proxy from many users (a random {@code cp_bucket} cookie per
 * request), so that the canary gets its share.
 */
class AnalysisApiTest {

    private static final Duration RUN = Duration.ofSeconds(20);

    private static AdminFixture fixture;
    private static Gunicorn green;

    private CanaryProxy proxy;
    private AdminCalls calls;
    private final List<LoadGenerator> loads = new ArrayList<>();

    @BeforeAll
    static void startReleases() {
        fixture = new AdminFixture();
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
        calls = fixture.start("""
                proxy.health-check.rise = 1
                proxy.analysis { interval = 200ms, steps = [10, 100], min-requests = 5 }
                """);
        proxy = fixture.proxy();
        // the first health checks of a fresh JVM may take longer than their 100 ms
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.status().releases().values().stream()
                .allMatch(r -> r.endpoints().get(0).healthy()));
    }

    @AfterEach
    void stop() throws Exception {
        loads.forEach(LoadGenerator::close);
        fixture.stop();
    }

    /** GET loops through the proxy, each request from a different user. */
    private LoadGenerator traffic() {
        LoadGenerator load = LoadGenerator.builder(proxy.listenAddress()).getClients(4).postClients(0)
                .manyUsers(true).start();
        loads.add(load);
        return load;
    }

    private JsonNode analysis() throws Exception {
        return json(calls.get("/status")).get("analysis");
    }

    @Test
    void anIdleProxyShowsAnIdleAnalysisBesideTheRouteTable() throws Exception {
        JsonNode status = json(calls.get("/status"));
        assertThat(status.fieldNames()).toIterable()
                .containsExactly("stable", "canary", "weight", "version", "changedAt", "analysis", "releases");
        JsonNode analysis = status.get("analysis");
        assertThat(analysis.fieldNames()).toIterable()
                .containsExactly("state", "release", "step", "weight", "lastOutcome", "history");
        assertThat(analysis.get("state").asText()).isEqualTo("idle");
        assertThat(analysis.get("release").isNull()).isTrue();
        assertThat(analysis.get("step").asInt()).isZero();
        assertThat(analysis.get("weight").asDouble()).isZero();
        assertThat(analysis.get("lastOutcome").isNull()).isTrue();
        assertThat(analysis.get("history").isArray()).isTrue();
        assertThat(analysis.get("history")).isEmpty();
    }

    @Test
    void aStartedRunIsPromotedAndItsChecksAreInTheStatusWithTheirFigures() throws Exception {
        LoadGenerator load = traffic();
        load.awaitSuccesses(50, RUN);
        AdminCalls.Logged logged = calls.postLogged("/canary/start?release=green");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode started = json(r);
        assertThat(started.get("state").asText()).isEqualTo("running");
        assertThat(started.get("release").asText()).isEqualTo("green");
        assertThat(started.get("step").asInt()).isZero();
        assertThat(started.get("weight").asDouble()).isEqualTo(10.0);
        assertThat(logged.log()).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.INFO);
            assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:")
                    .endsWith(": analysis of green started: blue -> blue + canary green at 10% (route table v1)");
        });

        await().atMost(RUN).pollInterval(Duration.ofMillis(100))
                .until(() -> analysis().get("state").asText().equals("idle"));
        JsonNode status = json(calls.get("/status"));
        assertThat(status.get("stable").asText()).isEqualTo("green");
        assertThat(status.get("canary").isNull()).isTrue();
        JsonNode analysis = status.get("analysis");
        assertThat(analysis.get("release").asText()).isEqualTo("green");
        assertThat(analysis.get("lastOutcome").asText()).isEqualTo("promoted after 2 steps");
        JsonNode history = analysis.get("history");
        assertThat(history).isNotEmpty();
        // newest last: the pass at 100 % that promoted green, after a pass at 10 %
        JsonNode last = history.get(history.size() - 1);
        assertThat(last.get("verdict").asText()).isEqualTo("pass");
        // at 100 % stable has little traffic of its own: green's p50 may be compared with stable's at 10 %
        assertThat(last.get("reason").asText()).matches("no significant difference|p50 [\\d.]+ ms against [\\d.]+ ms"
                + " \\(stable's in an earlier window of \\d+ requests\\), within the 1\\.5x ratio or the 25 ms slack");
        assertThat(last.get("step").asInt()).isEqualTo(1);
        assertThat(last.get("weight").asDouble()).isEqualTo(100.0);
        assertThat(history).anySatisfy(check -> {
            assertThat(check.get("verdict").asText()).isEqualTo("pass");
            assertThat(check.get("step").asInt()).isZero();
            assertThat(check.get("weight").asDouble()).isEqualTo(10.0);
            assertThat(check.get("stable").get("release").asText()).isEqualTo("blue");
            assertThat(check.get("stable").get("requests").asLong()).isPositive();
        });
        assertThat(last.get("at").asText()).matches("\\d{4}-\\d\\d-\\d\\dT.+Z");
        JsonNode canary = last.get("canary");
        assertThat(canary.get("release").asText()).isEqualTo("green");
        assertThat(canary.get("requests").asLong()).isGreaterThanOrEqualTo(5);
        assertThat(canary.get("errors").asLong()).isZero();
        assertThat(canary.get("errorRate").asDouble()).isZero();
        assertThat(canary.get("p50Ms").isNumber()).isTrue();
        assertThat(canary.get("p99Ms").isNumber()).isTrue();
        assertThat(last.has("errorP")).isTrue();
        assertThat(last.has("latencyP")).isTrue();
        assertThat(last.has("effectSize")).isTrue();

        LoadGenerator.Stats stats = load.stop();
        assertThat(stats.failures()).as("%s", stats.failureSamples()).isZero();
        assertThat(stats.countsByRelease().get("green")).isPositive();
    }

    @Test
    void aPausedRunHoldsItsWeightUntilResumed() throws Exception {
        HttpResponse<String> noRun = calls.post("/canary/pause");
        assertThat(noRun.statusCode()).isEqualTo(409);
        assertThat(json(noRun).get("error").asText()).isEqualTo("no analysis is running");
        assertThat(calls.post("/canary/resume").statusCode()).isEqualTo(409);

        assertThat(calls.post("/canary/start?release=green").statusCode()).isEqualTo(200);
        AdminCalls.Logged logged = calls.postLogged("/canary/pause");
        HttpResponse<String> paused = logged.response();
        assertThat(paused.statusCode()).isEqualTo(200);
        assertThat(json(paused).get("state").asText()).isEqualTo("paused");
        assertThat(json(paused).get("weight").asDouble()).isEqualTo(10.0);
        assertThat(logged.log()).anySatisfy(e -> assertThat(e.getFormattedMessage())
                .endsWith(": analysis pause: green paused at step 0 (10%)"));

        // traffic enough to pass the step, but the run holds
        LoadGenerator load = traffic();
        load.awaitSuccesses(300, RUN);
        // Three intervals of it: a running step would have been judged.
        await().during(Duration.ofMillis(600)).atMost(Duration.ofSeconds(5)).until(() -> {
            JsonNode held = analysis();
            return held.get("state").asText().equals("paused") && held.get("step").asInt() == 0
                    && held.get("history").isEmpty();
        });
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(1000);

        HttpResponse<String> resumed = calls.post("/canary/resume");
        assertThat(resumed.statusCode()).isEqualTo(200);
        assertThat(json(resumed).get("state").asText()).isEqualTo("running");
        await().atMost(RUN).pollInterval(Duration.ofMillis(100))
                .until(() -> analysis().get("state").asText().equals("idle"));
        assertThat(analysis().get("lastOutcome").asText()).isEqualTo("promoted after 2 steps");
        assertThat(proxy.routes().stable()).isEqualTo("green");
    }

    @Test
    void aSecondStartIsAConflictAndTheStableOrAnUnknownReleaseABadRequest() throws Exception {
        assertThat(calls.post("/canary/start?release=green").statusCode()).isEqualTo(200);

        HttpResponse<String> again = calls.post("/canary/start?release=green");
        assertThat(again.statusCode()).isEqualTo(409);
        assertThat(json(again).get("error").asText())
                .isEqualTo("an analysis of green is running; end it first (promote, rollback)");

        HttpResponse<String> stable = calls.post("/canary/start?release=blue");
        assertThat(stable.statusCode()).isEqualTo(400);
        assertThat(json(stable).get("error").asText())
                .isEqualTo("'blue' is the stable release; a canary must be another");

        HttpResponse<String> unknown = calls.post("/canary/start?release=purple");
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(json(unknown).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green)");

        HttpResponse<String> missing = calls.post("/canary/start");
        assertThat(missing.statusCode()).isEqualTo(400);
        assertThat(json(missing).get("error").asText()).contains("missing query parameter 'release'");

        HttpResponse<String> badForce = calls.post("/canary/start?release=green&force=maybe");
        assertThat(badForce.statusCode()).isEqualTo(400);
        assertThat(json(badForce).get("error").asText()).contains("'force'");

        // without traffic the step holds; the run goes on at 10 %
        assertThat(analysis().get("state").asText()).isEqualTo("running");
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(1000);

        // an operator's promotion ends the run
        assertThat(calls.post("/promote").statusCode()).isEqualTo(200);
        JsonNode ended = analysis();
        assertThat(ended.get("state").asText()).isEqualTo("idle");
        assertThat(ended.get("lastOutcome").asText()).isEqualTo("ended: promoted by an operator");
    }

    @Test
    void anUnhealthyCanaryIsAConflictUnlessForcedAndThenCoolsDownAfterItsRollback() throws Exception {
        fixture.unhealthy("green", true);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> !proxy.status().releases().get("green").endpoints().get(0).healthy());

        HttpResponse<String> unhealthy = calls.post("/canary/start?release=green");
        assertThat(unhealthy.statusCode()).isEqualTo(409);
        assertThat(json(unhealthy).get("error").asText())
                .startsWith("release 'green' has no healthy endpoint (").contains(": GET /healthz answered 503")
                .endsWith("); start it first, or force the analysis");
        assertThat(proxy.routes().canary()).isNull();

        assertThat(calls.post("/canary/start?release=green&force=true").statusCode()).isEqualTo(200);
        await().atMost(RUN).pollInterval(Duration.ofMillis(100))
                .until(() -> analysis().get("state").asText().equals("idle"));
        JsonNode rolledBack = analysis();
        // Why it has none, too: the endpoint and its check's last answer (a 503, unless a check ran out of time).
        String why = "canary has no healthy endpoint (127.0.0.1:" + green.port() + ": health check: ";
        assertThat(rolledBack.get("lastOutcome").asText()).startsWith("rolled back: the " + why).endsWith(")");
        JsonNode check = rolledBack.get("history").get(rolledBack.get("history").size() - 1);
        assertThat(check.get("verdict").asText()).isEqualTo("fail");
        assertThat(check.get("reason").asText()).startsWith(why);
        assertThat(check.get("errorP").isNull()).isTrue();
        assertThat(proxy.routes().canary()).isNull();

        // healthy again, but within the cooldown after the rollback: only with force
        fixture.unhealthy("green", false);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> proxy.status().releases().get("green").endpoints().get(0).healthy());
        HttpResponse<String> cooling = calls.post("/canary/start?release=green&force=false");
        assertThat(cooling.statusCode()).isEqualTo(409);
        assertThat(json(cooling).get("error").asText()).startsWith("release 'green' was rolled back; it cools down"
                + " until ").endsWith("(to try again now, force it: force=true in the admin API, --force with ctl)");
        HttpResponse<String> forced = calls.post("/canary/start?release=green&force=true");
        assertThat(forced.statusCode()).isEqualTo(200);
        assertThat(json(forced).get("state").asText()).isEqualTo("running");
    }

    @Test
    void theCallsAreMutationsThatNeedTheTokenAndAPost() throws Exception {
        for (String path : new String[] {"/canary/start?release=green", "/canary/pause", "/canary/resume"}) {
            HttpResponse<String> none = calls.post(path, null);
            assertThat(none.statusCode()).as(path).isEqualTo(401);
            assertThat(json(none).get("error").asText()).contains("Authorization: Bearer");
            HttpResponse<String> get = calls.get(path);
            assertThat(get.statusCode()).as(path).isEqualTo(405);
            assertThat(get.headers().firstValue("allow")).hasValue("POST");
        }
        assertThat(proxy.routes().canary()).isNull();
        assertThat(proxy.status().analysis().state()).isEqualTo(Analysis.State.IDLE);
    }
}
