package io.canaryproxy.analysis;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.WireMockServer;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Starting, pausing, resuming and ending a run; the pre-rollout gate; a run that survives a restart. */
class AnalysisControlTest {

    @TempDir
    Path dir;

    private CountingBackend blue;
    private CountingBackend green;
    private WireMockServer hooks;

    @BeforeEach
    void start() throws Exception {
        blue = new CountingBackend();
        green = new CountingBackend();
        hooks = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        hooks.start();
        hooks.stubFor(post(urlEqualTo("/gate")).willReturn(aResponse().withStatus(200)));
        hooks.stubFor(post(urlEqualTo("/events")).willReturn(aResponse().withStatus(204)));
    }

    @AfterEach
    void stop() throws Exception {
        blue.close();
        green.close();
        hooks.stop();
    }

    /** Checks and health checks a few times a second, so that a canary that loses its endpoint goes quickly. */
    private static final String QUICK_CHECKS = """
            proxy.analysis { interval = 200ms }
            proxy.health-check { interval = 200ms, timeout = 200ms, fall = 3 }
            """;

    /** Stops green's backend and waits for the run to end: the canary has no healthy endpoint. */
    private void loseTheCanary(CanaryProxy proxy) throws Exception {
        green.close();
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
    }

    /** What a run says when green's backend is gone: why its one endpoint is not healthy, not only that. */
    private String lostCanary() {
        return "rolled back: the canary has no healthy endpoint (" + green.endpoint()
                + ": health check: connect failed: connection refused)";
    }

    /** Turns the state directory into a file, so that no state file can be written there (root included). */
    private static void makeUnwritable(Path var) throws IOException {
        try (var files = Files.list(var)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(var);
        Files.writeString(var, "a file where the state directory was\n");
    }

    private ProxyConfig config(String extra) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                  state-file = "%s"
                  analysis {
                    interval = 1h
                    steps = [5, 50, 100]
                    webhooks = [
                      { name = gate, url = "http://127.0.0.1:%d/gate", events = [pre-rollout] }
                      { name = events, url = "http://127.0.0.1:%d/events", events = [rolled-back] }
                    ]
                  }
                }
                %s
                """.formatted(blue.endpoint(), green.endpoint(), dir.resolve("state.json"), hooks.port(),
                hooks.port(), extra));
    }

    /** Users on a canary set by hand stay on it when a run takes over: the run never lowers the weight. */
    @Test
    void aRunStartedOnAManualCanaryBeginsAtTheFirstStepThatKeepsItsUsers() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.setCanary("green", 30, false);

            Analysis.Status started = proxy.startAnalysis("green", false);

            assertThat(started.step()).isEqualTo(1);
            assertThat(proxy.routes().weightPercent()).isEqualTo(50.0);
        }
    }

    @Test
    void aRunSurvivesARestartAtItsStep() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            Analysis.Status started = proxy.startAnalysis("green", false);
            assertThat(started.state()).isEqualTo(Analysis.State.RUNNING);
            assertThat(proxy.routes().canary()).isEqualTo("green");
            assertThat(proxy.routes().weightPercent()).isEqualTo(5.0);
            proxy.pauseAnalysis();
        }
        try (CanaryProxy restarted = CanaryProxy.start(config(""))) {
            Analysis.Status status = restarted.status().analysis();
            assertThat(status.state()).isEqualTo(Analysis.State.PAUSED);
            assertThat(status.release()).isEqualTo("green");
            assertThat(restarted.routes().canary()).isEqualTo("green");
            assertThat(restarted.resumeAnalysis().state()).isEqualTo(Analysis.State.RUNNING);
        }
    }

    /**
     * At the last step stable has no traffic of its own, and the canary's latency is compared with stable's last
     * window that had enough. A proxy restarted there keeps that window: without it the run would go on with
     * "latency not judged" and promote a canary that cannot carry the users.
     */
    @Test
    void aRunRestartedAtTheLastStepStillJudgesLatencyAgainstStablesEarlierWindow() {
        String quick = "proxy.analysis { interval = 1s, steps = [50, 100], min-requests = 20 }";
        try (CanaryProxy proxy = CanaryProxy.start(config(quick));
             LoadGenerator users = LoadGenerator.builder(proxy.listenAddress()).getClients(4).manyUsers(true)
                     .start()) {
            proxy.startAnalysis("green", false);
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(10))
                    .until(() -> proxy.status().analysis().step() == 1);
            proxy.pauseAnalysis();
            users.stop();
        }
        try (CanaryProxy restarted = CanaryProxy.start(config(quick));
             LoadGenerator users = LoadGenerator.builder(restarted.listenAddress()).getClients(4).manyUsers(true)
                     .start()) {
            assertThat(restarted.status().analysis().state()).isEqualTo(Analysis.State.PAUSED);
            assertThat(restarted.resumeAnalysis().step()).isEqualTo(1);

            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                    .until(() -> restarted.status().analysis().state() == Analysis.State.IDLE);
            users.stop();

            Analysis.Status end = restarted.status().analysis();
            assertThat(end.lastOutcome()).startsWith("promoted");
            assertThat(end.history()).last().satisfies(check -> {
                assertThat(check.step()).isEqualTo(1);
                assertThat(check.stable().requests()).isZero();
                assertThat(check.reason()).contains("(stable's in an earlier window of").doesNotContain("not judged");
            });
        }
    }

    /**
     * Steps edited while a run was paused are the next run's, after a restart as after a reload: the run resumes
     * where it was, on its own steps, and the route table is not touched.
     */
    @Test
    void aRunResumedAfterARestartWithEditedStepsKeepsItsOwn() {
        long version;
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false); // steps [5, 50, 100]: 5 %
            proxy.pauseAnalysis();
            version = proxy.routes().version();
        }
        try (Captured logged = Captured.from(Analysis.class);
             CanaryProxy restarted = CanaryProxy.start(config("proxy.analysis.steps = [1, 2, 3, 5, 100]"))) {
            Analysis.Status status = restarted.status().analysis();
            assertThat(status.state()).isEqualTo(Analysis.State.PAUSED);
            assertThat(status.step()).isZero();
            assertThat(status.weight()).isEqualTo(5.0);
            assertThat(restarted.routes().weightPercent()).isEqualTo(5.0);
            assertThat(restarted.routes().version()).as("the route table untouched").isEqualTo(version);
            assertThat(logged.messages()).noneSatisfy(line -> assertThat(line).contains("do not put"));
        }
    }

    /** Steps reloaded during a run stay the next run's when the proxy restarts before the run ends. */
    @Test
    void stepsReloadedDuringARunStayTheNextRunsAfterARestart() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false); // steps [5, 50, 100]
            proxy.reload(config("proxy.analysis.steps = [10, 100]"));
        }
        try (Captured logged = Captured.from(Analysis.class);
             CanaryProxy restarted = CanaryProxy.start(config("proxy.analysis.steps = [10, 100]"))) {
            assertThat(restarted.status().analysis().weight()).isEqualTo(5.0);
            assertThat(restarted.status().analysis().step()).isZero();
            assertThat(logged.messages()).noneSatisfy(line -> assertThat(line).contains("do not put"));
        }
    }

    /**
     * A run saved without its steps (a file from before they were kept) goes on with analysis.steps as they are
     * now. A canary between two of them is judged at the weight its users have before it goes up: resuming "at"
     * the next step up without its weight would pass that step on the traffic of the lower one.
     */
    @Test
    void aCanaryResumedBetweenTheConfiguredStepsIsJudgedAtItsWeightThenGoesToTheNextStep() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false); // steps [5, 50, 100]: 5 %
            proxy.pauseAnalysis();
        }
        Path saved = dir.resolve("state.analysis.json");
        Files.writeString(saved, Files.readString(saved).replaceAll("\"steps\":\\[[^\\]]*\\],?", ""));
        assertThat(Files.readString(saved)).doesNotContain("steps");
        String edited = "proxy.analysis { interval = 1s, steps = [1, 3, 50, 100], min-requests = 20 }";
        try (CanaryProxy restarted = CanaryProxy.start(config(edited));
             LoadGenerator users = LoadGenerator.builder(restarted.listenAddress()).getClients(4).manyUsers(true)
                     .start()) {
            Analysis.Status resumed = restarted.resumeAnalysis();
            assertThat(resumed.step()).isEqualTo(2);
            assertThat(resumed.weight()).isEqualTo(5.0);

            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(10))
                    .until(() -> restarted.routes().weightPercent() != 5.0);
            users.stop();

            assertThat(restarted.routes().weightPercent()).as("the next step up, not a promotion").isEqualTo(50.0);
            Analysis.Status status = restarted.status().analysis();
            assertThat(status.step()).isEqualTo(3);
            assertThat(status.weight()).isEqualTo(50.0);
            assertThat(status.history()).last().satisfies(check -> {
                assertThat(check.verdict()).isEqualTo(Check.Verdict.PASS);
                assertThat(check.weight()).isEqualTo(5.0);
            });
        }
    }

    /** Steps edited by a reload during a run are the next run's: the run under way keeps its own. */
    @Test
    void stepsReloadedDuringARunAreTheNextRunsSteps() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false); // steps [5, 50, 100]
            proxy.reload(config("proxy.analysis.steps = [10, 100]"));
            assertThat(proxy.status().analysis().weight()).as("the run keeps its steps").isEqualTo(5.0);

            proxy.rollback();
            Analysis.Status next = proxy.startAnalysis("green", true);

            assertThat(next.weight()).isEqualTo(10.0);
            assertThat(proxy.routes().weightPercent()).isEqualTo(10.0);
        }
    }

    /** README: "an unhealthy canary (no healthy endpoint) is rolled back at once", not at the end of the interval. */
    @Test
    void aCanaryThatLosesEveryEndpointIsRolledBackBeforeTheIntervalEnds() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(
                "proxy.health-check { interval = 200ms, timeout = 200ms, fall = 3 }"))) {
            proxy.startAnalysis("green", false); // interval = 1h
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                for (int i = 0; i < 3; i++) {
                    assertThat(client.get("/", Map.of("X-Canary", "always")).status()).isEqualTo(200);
                    assertThat(client.get("/", Map.of("X-Canary", "never")).status()).isEqualTo(200);
                }
            }
            green.close();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
            assertThat(proxy.status().analysis().lastOutcome())
                    .isEqualTo(lostCanary());
            // The check records what the step saw before the canary fell.
            assertThat(proxy.status().analysis().history()).last().satisfies(check -> {
                assertThat(check.canary().release()).isEqualTo("green");
                assertThat(check.canary().requests()).isEqualTo(3);
                assertThat(check.stable().release()).isEqualTo("blue");
                assertThat(check.stable().requests()).isEqualTo(3);
            });
            assertThat(proxy.routes().canary()).isNull();
        }
    }

    /**
     * A deploy restarts green and force-starts its analysis the moment gunicorn is up, before the scheduled checks
     * have seen it answer (here: not for ten seconds). Forced or not, the start asks green: it answers, counts as
     * healthy at once, and is not rolled back half a second later, with a cooldown, for a failure that is over.
     */
    @Test
    void aForcedStartAsksTheReleaseSoAnOldFailedCheckDoesNotRollItBack() throws Exception {
        Gunicorn restarted = Gunicorn.unixSocket("green", dir);
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check { interval = 1s, timeout = 1s, fall = 1, rise = 10 }
                  analysis { interval = 1h, steps = [5, 100] }
                }
                """.formatted(blue.endpoint(), restarted.endpoint())))) {
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    !proxy.status().releases().get("green").endpoints().get(0).healthy());
            restarted.start();

            proxy.startAnalysis("green", true);

            assertThat(proxy.status().releases().get("green").endpoints().get(0).healthy()).isTrue();
            await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3))
                    .until(() -> proxy.status().analysis().state() == Analysis.State.RUNNING);
            assertThat(proxy.routes().canary()).isEqualTo("green");
        } finally {
            restarted.close();
        }
    }

    /**
     * Without health checks, the canary's own requests find it gone: its endpoint is ejected after
     * {@code eject-after} refused connects and the run ends, while its users were served by the stable release.
     */
    @Test
    void aCanaryThatRefusesItsRequestsIsRolledBackWithoutHealthChecks() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.upstream.eject-after = 3"))) {
            proxy.startAnalysis("green", false); // 5 %: bucket 0 is the canary's
            green.close();
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                for (int i = 0; i < 3; i++) {
                    assertThat(client.get("/", Map.of("Cookie", "cp_bucket=0")).status()).isEqualTo(200);
                }
            }

            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
            assertThat(proxy.status().analysis().lastOutcome()).isEqualTo("rolled back: the canary has no healthy"
                    + " endpoint (" + green.endpoint() + ": ejected after 3 connect failures in a row (connection"
                    + " refused); still tried while its release has nothing else)");
            assertThat(proxy.routes().canary()).isNull();
        }
    }

    /** With the disk full or the directory gone, keeping a failing canary would leave its users on it unwatched. */
    @Test
    void theAutomaticRollbackHappensEvenWhenTheStateFileCannotBeWritten() throws Exception {
        Path var = dir.resolve("var");
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + var.resolve("state.json") + "\"\n"
                + "proxy.health-check { interval = 200ms, timeout = 200ms, fall = 3 }"))) {
            proxy.startAnalysis("green", false);
            makeUnwritable(var);

            green.close();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
            assertThat(proxy.routes().canary()).as("rolled back in memory").isNull();
            assertThat(proxy.status().analysis().lastOutcome())
                    .isEqualTo(lostCanary());
        }
    }

    /** A step whose weight cannot be set pauses the run at the step whose weight is in force, saying why. */
    @Test
    void aStepThatCannotBeTakenPausesTheRunWhereItIs() throws Exception {
        Path var = dir.resolve("var");
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + var.resolve("state.json") + "\"\n"
                + "proxy.analysis { interval = 300ms, min-requests = 5 }"));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            proxy.startAnalysis("green", false);
            makeUnwritable(var);

            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> {
                client.get("/", Map.of("X-Canary", "always"));
                client.get("/", Map.of("X-Canary", "never"));
                return proxy.status().analysis().state() == Analysis.State.PAUSED;
            });
            Analysis.Status status = proxy.status().analysis();
            assertThat(status.lastOutcome()).startsWith("paused: cannot write state file");
            assertThat(status.step()).isZero();
            assertThat(status.weight()).isEqualTo(5.0);
            assertThat(proxy.routes().weightPercent()).isEqualTo(5.0);
        }
    }

    /** As with the state file: a run, its cool-downs and its streak are not dropped with a warning. */
    @Test
    void anAnalysisFileThatIsThereButUnusableStopsTheStart() throws Exception {
        Path saved = dir.resolve("state.analysis.json");
        for (String content : new String[] {"{\"release\":\"gre", "{\"release\":\"green\",\"step\":\"one\"}",
                "{\"release\":\"green\",\"step\":-1}"}) {
            Files.writeString(saved, content);
            assertThatThrownBy(() -> CanaryProxy.start(config("")))
                    .isInstanceOf(io.canaryproxy.config.ConfigException.class)
                    .hasMessageStartingWith("proxy.state-file = \"" + dir.resolve("state.json")
                            + "\": the analysis saved beside it, " + saved + ", cannot be read: ")
                    .hasMessageEndingWith(". Fix it, or remove it to start without the analysis it held (a run,"
                            + " cool-downs, the last outcome)");
        }
    }

    /** The first check after a resume judges a whole interval of traffic, not the moment since the timer's beat. */
    @Test
    void theFirstCheckAfterAResumeComesAWholeIntervalLater() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.analysis.interval = 2s"))) {
            long started = System.nanoTime();
            proxy.startAnalysis("green", false);
            proxy.pauseAnalysis();
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> System.nanoTime() - started >= TimeUnit.MILLISECONDS.toNanos(1500));
            proxy.resumeAnalysis();

            // The timer's beat since the start would check half a second from now.
            await().during(Duration.ofMillis(1200)).atMost(Duration.ofSeconds(3))
                    .until(() -> proxy.status().analysis().history().isEmpty());
            await().atMost(Duration.ofSeconds(5)).until(() -> !proxy.status().analysis().history().isEmpty());
        }
    }

    /**
     * A step the configured steps no longer have (steps shortened since) does not stop the start, nor leave the
     * canary unwatched: the run goes on at the step of the canary's weight.
     */
    @Test
    void aSavedStepBeyondTheStepsResumesAtTheCanarysWeight() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false);
        }
        Path saved = dir.resolve("state.analysis.json");
        Files.writeString(saved, Files.readString(saved).replaceAll("\"step\":\\d+", "\"step\":3"));
        try (CanaryProxy restarted = CanaryProxy.start(config(""))) {
            assertThat(restarted.status().analysis().state()).isEqualTo(Analysis.State.RUNNING);
            assertThat(restarted.status().analysis().step()).isZero();
            assertThat(restarted.routes().canary()).isEqualTo("green");
            assertThat(restarted.routes().weightPercent()).isEqualTo(5.0);
        }
    }

    /** A restart must not let a release just rolled back start again unforced, nor forget why it was. */
    @Test
    void aRollbackAndItsCooldownSurviveARestart() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(QUICK_CHECKS))) {
            proxy.startAnalysis("green", false);
            loseTheCanary(proxy);
        }
        try (CanaryProxy restarted = CanaryProxy.start(config(""))) {
            assertThat(restarted.status().analysis().lastOutcome())
                    .isEqualTo(lostCanary());
            assertThatThrownBy(() -> restarted.startAnalysis("green", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("cools down until");
        }
    }

    /**
     * A rollback saves the release's cool-down before the route table drops the canary, and a proxy may be killed
     * between the two. Killed after the table changed, before the run's end was saved: the cool-down holds.
     */
    @Test
    void aRollbackKilledAfterTheRouteTableChangedKeepsItsCooldown() throws Exception {
        killedInARollback(false);
        try (CanaryProxy restarted = CanaryProxy.start(config(""))) {
            assertThat(restarted.routes().canary()).isNull();
            assertThat(restarted.status().analysis().state()).isEqualTo(Analysis.State.IDLE);
            assertThat(restarted.status().analysis().lastOutcome()).isEqualTo("rolled back: 2 failed checks in a row");
            assertThatThrownBy(() -> restarted.startAnalysis("green", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("cools down until");
        }
    }

    /** Killed before the table changed: the canary still has its users, and the run goes on judging it. */
    @Test
    void aRollbackKilledBeforeTheRouteTableChangedGoesOnJudging() throws Exception {
        killedInARollback(true);
        try (Captured logged = Captured.from(Analysis.class);
             CanaryProxy restarted = CanaryProxy.start(config(""))) {
            Analysis.Status status = restarted.status().analysis();
            assertThat(status.state()).isEqualTo(Analysis.State.RUNNING);
            assertThat(status.release()).isEqualTo("green");
            assertThat(status.lastOutcome()).isEmpty();
            assertThat(restarted.routes().canary()).isEqualTo("green");
            assertThat(logged.messages()).contains("analysis of green: the proxy stopped as it rolled green back,"
                    + " before the route table changed; the run goes on and judges it again");

            restarted.rollback();
            assertThat(restarted.startAnalysis("green", false).state()).as("no cool-down from the rollback"
                    + " that did not happen").isEqualTo(Analysis.State.RUNNING);
        }
    }

    /** A canary that no run judges after a restart (set by hand, or a start cut short) is named at start. */
    @Test
    void aCanaryNoRunJudgesIsNamedAtStart() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.setCanary("green", 20, false);
        }
        try (Captured logged = Captured.from(CanaryProxy.class);
             CanaryProxy restarted = CanaryProxy.start(config(""))) {
            assertThat(logged.messages()).contains("release green is canary at 20.0% and no analysis run judges it:"
                    + " the weight stays until it is changed, or a run is started"
                    + " (POST /canary/start?release=green)");
        }
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false);
        }
        try (Captured logged = Captured.from(CanaryProxy.class);
             CanaryProxy restarted = CanaryProxy.start(config(""))) {
            assertThat(logged.messages()).noneMatch(m -> m.contains("no analysis run judges it"));
        }
    }

    /**
     * The files a proxy killed in the middle of a rollback leaves: the analysis file with the run, its cool-down and
     * outcome already saved; the state file still with green as canary, or without it.
     */
    private void killedInARollback(boolean canaryStillInTheTable) throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false);
        }
        ObjectMapper json = new ObjectMapper();
        Path analysis = dir.resolve("state.analysis.json");
        var run = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(analysis.toFile());
        assertThat(run.path("release").asText()).isEqualTo("green");
        run.put("outcome", "rolled back: 2 failed checks in a row");
        run.putObject("cooldowns").put("green", java.time.Instant.now().plus(Duration.ofMinutes(10)).toString());
        json.writeValue(analysis.toFile(), run);
        if (!canaryStillInTheTable) {
            Path state = dir.resolve("state.json");
            var table = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(state.toFile());
            table.putNull("canary");
            table.put("weight", 0.0);
            table.put("version", table.path("version").asLong() + 1);
            json.writeValue(state.toFile(), table);
        }
    }

    /** A record kept from the webhooks sees a run end whoever ends it. */
    @Test
    void anOperatorsRollbackOfARunIsAWebhookEventWithItsReason() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            proxy.startAnalysis("green", false);
            proxy.rollback();
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> hooks.verify(postRequestedFor(
                    urlEqualTo("/events")).withRequestBody(matchingJsonPath("$.event", equalTo("rolled-back")))
                    .withRequestBody(matchingJsonPath("$.reason", equalTo("rolled back by an operator")))));
        }
    }

    @Test
    void thePreRolloutWebhookCanRefuseTheStart() {
        hooks.stubFor(post(urlEqualTo("/gate")).willReturn(aResponse().withStatus(412).withBody("migrations pending")));
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            assertThatThrownBy(() -> proxy.startAnalysis("green", false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("gate answered 412").hasMessageContaining("migrations pending");
            assertThat(proxy.routes().canary()).isNull();
            hooks.verify(postRequestedFor(urlEqualTo("/gate"))
                    .withRequestBody(matchingJsonPath("$.event", equalTo("pre-rollout")))
                    .withRequestBody(matchingJsonPath("$.release", equalTo("green"))));
        }
    }

    @Test
    void anOperatorsRollbackEndsTheRunAndACanaryThatLosesItsEndpointIsRolledBackAtOnce() throws Exception {
        MeterRegistry registry = new SimpleMeterRegistry();
        try (CanaryProxy proxy = CanaryProxy.start(config(QUICK_CHECKS), registry)) {
            proxy.startAnalysis("green", false);
            assertThatThrownBy(() -> proxy.startAnalysis("green", false)).isInstanceOf(IllegalStateException.class);

            proxy.rollback();
            assertThat(proxy.status().analysis().state()).isEqualTo(Analysis.State.IDLE);
            assertThat(proxy.status().analysis().lastOutcome()).contains("rolled back by an operator");

            proxy.startAnalysis("green", false);
            loseTheCanary(proxy);
            assertThat(proxy.status().analysis().lastOutcome())
                    .isEqualTo(lostCanary());
            assertThat(proxy.routes().canary()).isNull();
            // Both rollbacks, the operator's and the analysis's, and the failed check behind the second.
            assertThat(registry.get("canary.proxy.analysis.outcomes").tag("outcome", "rolled-back").counter()
                    .count()).isEqualTo(2);
            assertThat(registry.get("canary.proxy.analysis.checks").tag("verdict", "fail").counter().count())
                    .isEqualTo(1);
            // Webhooks are posted asynchronously.
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> hooks.verify(postRequestedFor(
                    urlEqualTo("/events")).withRequestBody(matchingJsonPath("$.event", equalTo("rolled-back")))));
            // Within the cooldown the same release needs force.
            assertThatThrownBy(() -> proxy.startAnalysis("green", false))
                    .isInstanceOf(IllegalStateException.class);
            Path saved = dir.resolve("state.analysis.json");
            // Saved just after the run ended.
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                    assertThat(new ObjectMapper().readTree(saved.toFile()).path("cooldowns").has("green")).isTrue());
            // A forced run is a new attempt: the cooldown of the last one ends, and is not kept in the state file
            // for a release that may be promoted meanwhile.
            proxy.startAnalysis("green", true);
            assertThat(new ObjectMapper().readTree(saved.toFile()).path("cooldowns").has("green")).isFalse();
        }
    }

    @Test
    void aSlowPreRolloutWebhookDoesNotHoldUpTheStatus() throws Exception {
        hooks.stubFor(post(urlEqualTo("/gate")).willReturn(aResponse().withStatus(200).withFixedDelay(3000)));
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            java.util.concurrent.CompletableFuture<Analysis.Status> start =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> proxy.startAnalysis("green", false));
            await().atMost(Duration.ofSeconds(5)).until(() -> !hooks.getAllServeEvents().isEmpty());
            assertThat(proxy.status().analysis().state()).isEqualTo(Analysis.State.IDLE);
            assertThat(start).as("the gate still holds the start: /status did not wait for it").isNotDone();
            assertThat(start.get(10, java.util.concurrent.TimeUnit.SECONDS).state())
                    .isEqualTo(Analysis.State.RUNNING);
        }
    }

    @Test
    void theStableReleaseCannotBeACanary() {
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            assertThatThrownBy(() -> proxy.startAnalysis("blue", false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stable");
            assertThatThrownBy(() -> proxy.startAnalysis("purple", false))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("purple");
            assertThatThrownBy(proxy::pauseAnalysis).isInstanceOf(IllegalStateException.class);
        }
    }

    /**
     * An operator's change that is not made (refused, or not saved) leaves the run going: ending it would leave the
     * canary's users on it with nothing watching, and the outcome and the webhooks telling of a change that never
     * happened.
     */
    @Test
    void aChangeThatIsRefusedOrNotSavedLeavesTheRunGoing() throws Exception {
        Path var = dir.resolve("var");
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + var.resolve("state.json") + "\""))) {
            proxy.startAnalysis("green", false);

            assertThatThrownBy(() -> proxy.setCanary("blue", 20, true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stable");
            assertThat(proxy.status().analysis().state()).isEqualTo(Analysis.State.RUNNING);

            makeUnwritable(var);
            assertThatThrownBy(() -> proxy.switchTo("green", true)).hasMessageContaining("cannot write state file");
            assertThatThrownBy(() -> proxy.setCanary("green", 50, true)).hasMessageContaining("cannot write");
            assertThatThrownBy(proxy::promote).hasMessageContaining("cannot write state file");
            Analysis.Status status = proxy.status().analysis();
            assertThat(status.state()).isEqualTo(Analysis.State.RUNNING);
            assertThat(status.lastOutcome()).isEmpty();
            assertThat(proxy.routes().canary()).isEqualTo("green");
            assertThat(proxy.routes().weightPercent()).isEqualTo(5.0);
        }
    }

    /**
     * A bad canary must not keep its users because the disk is full: an operator's rollback goes ahead in memory,
     * says so, and is written once the state file can be.
     */
    @Test
    void anOperatorsRollbackHappensWhenTheStateFileCannotBeWrittenAndIsSavedOnceItCan() throws Exception {
        Path var = dir.resolve("var");
        Path stateFile = var.resolve("state.json");
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + stateFile + "\""))) {
            proxy.setCanary("green", 50, false);
            makeUnwritable(var);

            RouteTable table = proxy.rollback();

            assertThat(table.canary()).isNull();
            assertThat(proxy.routes().canary()).isNull();
            assertThat(proxy.unsavedState()).startsWith("cannot write state file " + stateFile)
                    .contains("route table v" + table.version() + " is in force in memory only");

            // The directory back, empty: the retry, which may already be under way, writes what is in force.
            Files.delete(var);
            Files.createDirectories(var);
            await().atMost(Duration.ofSeconds(15)).until(() -> proxy.unsavedState() == null);
            assertThat(new ObjectMapper().readTree(stateFile.toFile()).path("canary").isNull()).isTrue();
            assertThat(new ObjectMapper().readTree(stateFile.toFile()).path("version").asLong())
                    .isEqualTo(table.version());
        }
    }

    /**
     * A pause holds the weight for an operator (a migration that cannot be undone): a canary that loses its
     * endpoints meanwhile is not rolled back behind the operator's back. Its users go to the stable release while
     * it has none, and come back once it is up again.
     */
    @Test
    void aPausedRunIsNotRolledBackWhenItsCanaryLosesItsEndpoints() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(QUICK_CHECKS));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            proxy.startAnalysis("green", false);
            proxy.pauseAnalysis();

            green.close();
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    !proxy.status().releases().get("green").endpoints().get(0).healthy());
            assertThat(client.get("/", Map.of("Cookie", "cp_bucket=0")).status()).as("served by blue").isEqualTo(200);
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() ->
                    proxy.status().analysis().state() == Analysis.State.PAUSED);
            assertThat(proxy.routes().canary()).isEqualTo("green");
            assertThat(proxy.routes().weightPercent()).isEqualTo(5.0);
        }
    }

    /** With {@code on-failure = pause}, a canary without a healthy endpoint is paused, not rolled back. */
    @Test
    void withOnFailurePauseACanaryThatLosesItsEndpointsIsPaused() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config(QUICK_CHECKS + "proxy.analysis.on-failure = pause"))) {
            proxy.startAnalysis("green", false);

            green.close();
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    proxy.status().analysis().state() == Analysis.State.PAUSED);
            assertThat(proxy.status().analysis().lastOutcome()).isEqualTo("paused: the canary has no healthy endpoint ("
                    + green.endpoint() + ": health check: connect failed: connection refused)");
            assertThat(proxy.routes().canary()).isEqualTo("green");
        }
    }

    /**
     * A canary request that no canary endpoint took goes to the stable release, and its user is served; the canary
     * still failed it, as the stable release fails a request it answers 502. A canary that cannot take its share of
     * the users is judged on them.
     */
    @Test
    void aCanaryRequestTheCanaryRefusedCountsAgainstTheCanary() throws Exception {
        try (CanaryProxy proxy = CanaryProxy.start(config("""
                proxy.upstream.eject-after = 1000
                proxy.analysis { interval = 300ms, min-requests = 5, failure-limit = 100 }
                """));
             RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            proxy.startAnalysis("green", false); // 5 %: bucket 0 is the canary's
            green.close();
            for (int i = 0; i < 5; i++) {
                assertThat(client.get("/", Map.of("Cookie", "cp_bucket=0")).status()).isEqualTo(200);
            }

            // Held checks count at the next one: whatever the intervals cut, one check sees all five.
            await().atMost(Duration.ofSeconds(10)).until(() -> proxy.status().analysis().history().stream()
                    .anyMatch(check -> check.canary().requests() >= 5));
            assertThat(proxy.status().analysis().history()).filteredOn(check -> check.canary().requests() >= 5)
                    .first().satisfies(check -> {
                        assertThat(check.canary().requests()).isEqualTo(5);
                        assertThat(check.canary().errors()).isEqualTo(5);
                        assertThat(check.stable().errors()).isZero();
                    });
            assertThat(blue.requests()).as("served by blue").isEqualTo(5);
        }
    }

    /** A pre-rollout webhook hears of one start at a time: a second asked meanwhile is refused, not gated. */
    @Test
    void aStartWhileAnotherAsksThePreRolloutWebhookIsRefusedWithoutAskingIt() throws Exception {
        hooks.stubFor(post(urlEqualTo("/gate")).willReturn(aResponse().withStatus(200).withFixedDelay(2000)));
        try (CanaryProxy proxy = CanaryProxy.start(config(""))) {
            java.util.concurrent.CompletableFuture<Analysis.Status> first =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> proxy.startAnalysis("green", false));
            await().atMost(Duration.ofSeconds(5)).until(() -> !hooks.getAllServeEvents().isEmpty());

            assertThatThrownBy(() -> proxy.startAnalysis("green", true))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("is starting");

            assertThat(first.get(10, TimeUnit.SECONDS).state()).isEqualTo(Analysis.State.RUNNING);
            hooks.verify(1, postRequestedFor(urlEqualTo("/gate")));
        }
    }

    /**
     * A promotion leaves the canary at 100 %, whoever made it; every end of a run says why, the analysis's own
     * included.
     */
    @Test
    void webhooksGiveTheWeightAfterAPromotionAndTheReasonOfEveryEnd() throws Exception {
        String events = "proxy.analysis.webhooks = [{ name = events, url = \"http://127.0.0.1:%d/events\","
                + " events = [promoted, rolled-back] }]\n";
        try (CanaryProxy proxy = CanaryProxy.start(config(QUICK_CHECKS + events.formatted(hooks.port())))) {
            proxy.startAnalysis("green", false);
            proxy.promote();
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> hooks.verify(postRequestedFor(
                    urlEqualTo("/events")).withRequestBody(matchingJsonPath("$.event", equalTo("promoted")))
                    .withRequestBody(matchingJsonPath("$.weight", equalTo("100.0")))
                    .withRequestBody(matchingJsonPath("$.reason", equalTo("promoted by an operator")))));

            proxy.switchTo("blue", false);
            proxy.startAnalysis("green", false);
            loseTheCanary(proxy);
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> hooks.verify(postRequestedFor(
                    urlEqualTo("/events")).withRequestBody(matchingJsonPath("$.event", equalTo("rolled-back")))
                    .withRequestBody(matchingJsonPath("$.reason", equalTo(lostCanary())))));
        }
    }

    /**
     * A pause made while the analysis file cannot be written holds in memory and is written once the file can be:
     * a restart before that would resume the run as it was saved, running.
     */
    @Test
    void aPauseThatCannotBeSavedIsSavedOnceTheFileCanBe() throws Exception {
        Path var = dir.resolve("var");
        Path stateFile = var.resolve("state.json");
        try (CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + stateFile + "\""))) {
            proxy.startAnalysis("green", false);
            makeUnwritable(var);

            assertThat(proxy.pauseAnalysis().state()).isEqualTo(Analysis.State.PAUSED);
            assertThat(proxy.unsavedState()).startsWith("cannot save the analysis state to "
                    + var.resolve("state.analysis.json"));

            // The directory back, empty: the retry, which may already be under way, writes what is in force.
            Files.delete(var);
            Files.createDirectories(var);
            await().atMost(Duration.ofSeconds(15)).until(() -> proxy.unsavedState() == null);
            assertThat(new ObjectMapper().readTree(var.resolve("state.analysis.json").toFile()).path("paused")
                    .asBoolean()).isTrue();
        }
    }

    /** A stop soon after the disk has room again writes what the retries have not yet: the next start reads it. */
    @Test
    void aStopWritesWhatIsUnsaved() throws Exception {
        Path var = dir.resolve("var");
        Path stateFile = var.resolve("state.json");
        CanaryProxy proxy = CanaryProxy.start(config("proxy.state-file = \"" + stateFile + "\""));
        try {
            proxy.startAnalysis("green", false);
            makeUnwritable(var);
            proxy.pauseAnalysis();
            assertThat(proxy.unsavedState()).isNotNull();
            Files.delete(var);
            Files.createDirectories(var);
        } finally {
            proxy.stop();
        }
        assertThat(new ObjectMapper().readTree(var.resolve("state.analysis.json").toFile()).path("paused")
                .asBoolean()).isTrue();
    }
}
