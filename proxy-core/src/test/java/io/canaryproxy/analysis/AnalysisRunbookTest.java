package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Automated canary runs with real gunicorn and many users loading the proxy: a bad green is rolled back on
 * errors or on latency, a good one is promoted through every step, and a quiet one holds.
 */
class AnalysisRunbookTest {

    private static final Logger log = LoggerFactory.getLogger(AnalysisRunbookTest.class);

    @TempDir
    Path dir;

    private Gunicorn blue;
    private Gunicorn green;
    private CanaryProxy proxy;

    /**
     * The health checks are the defaults (every 2 s, 1 s to answer, 3 failures in a row): these runbooks are about
     * the judge, and a one-worker green carrying every user on a busy two-core host can leave a check waiting longer
     * than a few hundred milliseconds, which would roll it back as unhealthy.
     */
    private void start(Gunicorn greenGunicorn, String analysis) {
        blue = Gunicorn.unixSocket("blue", dir).start();
        green = greenGunicorn.start();
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  analysis { interval = 1s, steps = [10, 50, 100], min-requests = 30, failure-limit = 2 }
                }
                proxy.analysis { %s }
                """.formatted(blue.endpoint(), green.endpoint(), analysis)));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (blue != null) {
            blue.close();
        }
        if (green != null) {
            green.close();
        }
    }

    /** Many users, GETs and POSTs, already being served: a run started now has traffic from its first interval. */
    private LoadGenerator usersUnderWay() {
        return usersUnderWay(Duration.ofSeconds(10));
    }

    /** As {@link #usersUnderWay()}, with users that give up on a response after {@code patience}. */
    private LoadGenerator usersUnderWay(Duration patience) {
        LoadGenerator load = LoadGenerator.builder(proxy.listenAddress()).getClients(8).postClients(2)
                .manyUsers(true).readTimeout(patience).start();
        try {
            load.awaitMoreSuccesses(200, Duration.ofSeconds(30));
            return load;
        } catch (RuntimeException | Error e) {
            load.close();
            throw e;
        }
    }

    private Analysis.Status awaitEnd() {
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(100))
                .until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
        return proxy.status().analysis();
    }

    @Test
    void aGreenFailingThirtyPercentIsRolledBackAndUsersSeeFewErrors() {
        start(Gunicorn.tcp("green").env("FAIL_RATE", "0.3"), "");
        try (LoadGenerator load = usersUnderWay()) {
            proxy.startAnalysis("green", false);

            Analysis.Status end = awaitEnd();
            LoadGenerator.Stats stats = load.stop();

            assertThat(end.lastOutcome()).startsWith("rolled back").contains("error rate");
            assertThat(proxy.routes().stable()).isEqualTo("blue");
            assertThat(proxy.routes().canary()).isNull();
            assertThat(end.history()).last().extracting(Check::verdict).isEqualTo(Check.Verdict.FAIL);
            long total = stats.successes() + stats.failures();
            log.info("user-visible errors during the bad canary: {} of {} requests ({}%)", stats.failures(), total,
                    String.format("%.2f", 100.0 * stats.failures() / total));
            assertThat(stats.failures()).as("errors users saw").isPositive().isLessThan(total / 20);
        }
    }

    @Test
    void aGreenTwoHundredMillisecondsSlowerIsRolledBackOnLatency() {
        start(Gunicorn.tcp("green").threads(16).env("EXTRA_LATENCY_MS", "200"), "");
        try (LoadGenerator load = usersUnderWay()) {
            proxy.startAnalysis("green", false);

            Analysis.Status end = awaitEnd();
            load.stop();

            assertThat(end.lastOutcome()).startsWith("rolled back");
            Check last = end.history().get(end.history().size() - 1);
            assertThat(last.reason()).containsAnyOf("p50", "p99", "rank test");
            assertThat(last.canary().p50Millis() - last.stable().p50Millis()).isGreaterThan(150);
            assertThat(proxy.routes().canary()).isNull();
        }
    }

    /**
     * A green so slow that its users give up long before the proxy's response-timeout (an app that waits a second):
     * each request they leave counts as slow as their wait, so green is judged on them and rolled back, where the
     * judge would otherwise have seen no green request end and held the step for ever.
     */
    @Test
    void aGreenSoSlowThatItsUsersGiveUpIsRolledBack() {
        start(Gunicorn.tcp("green").threads(16).env("EXTRA_LATENCY_MS", "3000"), "");
        try (LoadGenerator load = usersUnderWay(Duration.ofSeconds(1))) {
            proxy.startAnalysis("green", false);

            Analysis.Status end = awaitEnd();
            load.stop();

            assertThat(end.lastOutcome()).startsWith("rolled back");
            Check last = end.history().get(end.history().size() - 1);
            assertThat(last.reason()).containsAnyOf("p50", "p99", "rank test");
            assertThat(last.canary().p50Millis()).isGreaterThanOrEqualTo(900);
            assertThat(last.canary().errors()).isZero();
            assertThat(proxy.routes().canary()).isNull();
        }
    }

    /**
     * A green that slows down at the last step (it cannot carry all the users, say): at 100 % stable has no
     * traffic of its own, and green is judged against stable's latency in the last window that had enough.
     */
    @Test
    void aGreenThatSlowsDownAtTheLastStepIsRolledBack() throws Exception {
        Path slow = dir.resolve("slow");
        start(Gunicorn.tcp("green").env("SLOW_WHILE_FILE", slow.toString()), "interval = 2s, steps = [10, 100]");
        try (LoadGenerator load = usersUnderWay()) {
            proxy.startAnalysis("green", false);
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> proxy.status().analysis().step() == 1);
            Files.createFile(slow);

            Analysis.Status end = awaitEnd();
            load.stop();

            assertThat(end.lastOutcome()).startsWith("rolled back");
            assertThat(end.history()).filteredOn(c -> c.verdict() == Check.Verdict.PASS)
                    .extracting(Check::step).containsOnly(0);
            assertThat(end.history()).last().extracting(Check::reason).asString()
                    .contains("stable's in an earlier window");
            assertThat(proxy.routes().stable()).isEqualTo("blue");
        }
    }

    @Test
    void aHealthyGreenIsPromotedThroughEveryStepWithoutAFailedRequest() {
        // A wide slack: the test host runs the load, both gunicorns and the proxy on two cores, and a one-second
        // window's p99 (the sixth slowest of 600) spikes by tens of milliseconds for either release.
        start(Gunicorn.tcp("green"), "latency-slack = 100ms");
        try (LoadGenerator load = usersUnderWay()) {
            proxy.startAnalysis("green", false);

            Analysis.Status end = awaitEnd();
            load.awaitMoreSuccesses(200, Duration.ofSeconds(30));
            LoadGenerator.Stats stats = load.stop();

            assertThat(end.lastOutcome()).startsWith("promoted");
            assertThat(proxy.routes().stable()).isEqualTo("green");
            assertThat(end.history()).extracting(Check::verdict).contains(Check.Verdict.PASS)
                    .doesNotContain(Check.Verdict.FAIL);
            assertThat(end.history()).extracting(Check::step).contains(0, 1, 2);
            assertThat(stats.failures()).as("%s", stats.failureSamples()).isZero();
        }
    }

    /** A release's first moments (cold caches) are not judged, also when the warm-up is shorter than an interval. */
    @Test
    void errorsInTheWarmUpOnlyDoNotCountAgainstTheCanary() {
        start(Gunicorn.tcp("green").workers(1).env("FAIL_FIRST_MS", "700"),
                "interval = 2s, warmup = 1500ms, failure-limit = 1");
        try (LoadGenerator load = usersUnderWay()) {
            proxy.startAnalysis("green", false);

            Analysis.Status end = awaitEnd();
            load.stop();

            assertThat(end.lastOutcome()).startsWith("promoted");
            assertThat(end.history()).extracting(c -> c.canary().errors()).containsOnly(0L);
        }
    }

    @Test
    void aQuietCanaryHoldsInsteadOfPassingOrFailing() throws Exception {
        start(Gunicorn.tcp("green"), "");
        proxy.startAnalysis("green", false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // A few requests per interval, far under min-requests.
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(300)).until(() -> {
                client.get("/", java.util.Map.of("X-Canary", "always"));
                return proxy.status().analysis().history().size() >= 3;
            });
        }
        Analysis.Status status = proxy.status().analysis();
        assertThat(status.state()).isEqualTo(Analysis.State.RUNNING);
        assertThat(status.step()).isZero();
        assertThat(status.history()).extracting(Check::verdict).containsOnly(Check.Verdict.HOLD);
        assertThat(status.history().get(0).reason()).contains("min-requests");
        assertThat(proxy.routes().canary()).isEqualTo("green");
    }

    /** A canary whose traffic is under min-requests per interval is judged over as many intervals as it takes. */
    @Test
    void aQuietFailingCanaryIsJudgedOverSeveralIntervalsAndRolledBack() throws Exception {
        start(Gunicorn.tcp("green").env("FAIL_RATE", "0.5"), "");
        proxy.startAnalysis("green", false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            // About ten requests per one-second interval, a third of min-requests.
            await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(100)).until(() -> {
                client.get("/", java.util.Map.of("X-Canary", "always"));
                return proxy.status().analysis().state() == Analysis.State.IDLE;
            });
        }
        Analysis.Status end = proxy.status().analysis();
        assertThat(end.lastOutcome()).startsWith("rolled back: 2 failed checks in a row").contains("error rate");
        assertThat(end.history()).extracting(Check::verdict).contains(Check.Verdict.HOLD);
        assertThat(end.history()).filteredOn(c -> c.verdict() == Check.Verdict.FAIL)
                .allSatisfy(c -> assertThat(c.canary().requests()).isGreaterThanOrEqualTo(30));
        assertThat(proxy.routes().canary()).isNull();
    }
}
