package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code canary-proxy ctl}, run in-process through {@link Main#run}, against a real proxy and admin API whose
 * releases blue and green are real gunicorns serving the test Django app ({@link AdminFixture}): {@code /slow?ms=N}
 * answers after N ms, {@code /fail?rate=1} with a 500.
 */
class CtlTest {

    private static final String TOKEN = AdminFixture.TOKEN;
    private static final Duration SLOW = Duration.ofSeconds(6);
    private static final String NL = System.lineSeparator();

    private static AdminFixture fixture;
    private static Gunicorn blue;
    private static Gunicorn green;

    @TempDir
    Path dir;

    private PrometheusMeterRegistry registry;
    private Path file;
    private CanaryProxy proxy;
    private String admin;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

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
    void start() throws Exception {
        fixture.resetReleases();
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        file = dir.resolve("canary-proxy.conf");
        Files.writeString(file, """
                proxy {
                  listen = "127.0.0.1:0"
                  threads = 2
                  state-file = ""
                  admin { listen = "127.0.0.1:0", token = "%s" }
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  releases.green.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  health-check { interval = 100ms, timeout = 100ms, rise = 2, fall = 10 }
                  analysis { interval = 200ms, steps = [10, 100], min-requests = 5 }
                }
                """.formatted(TOKEN, blue.port(), green.port()));
        proxy = CanaryProxy.start(Main.loadConfig(file), registry);
        admin = fixture.serve(proxy, ConfigReloader.fromFile(proxy, file)).adminUrl();
    }

    @AfterEach
    void stop() {
        fixture.stop();
        if (registry != null) {
            registry.close();
        }
    }

    /** {@code canary-proxy ctl ARGS --admin URL --token TOKEN}. */
    private MainTest.Result ctl(String... args) {
        String[] all = new String[args.length + 5];
        all[0] = "ctl";
        System.arraycopy(args, 0, all, 1, args.length);
        all[args.length + 1] = "--admin";
        all[args.length + 2] = admin;
        all[args.length + 3] = "--token";
        all[args.length + 4] = TOKEN;
        return MainTest.run(all);
    }

    @Test
    void statusShowsTheRouteTableEveryReleaseAndEndpointAndTheRequestCounts() throws Exception {
        for (int i = 0; i < 4; i++) {
            assertThat(viaProxy("/").statusCode()).isEqualTo(200);
        }
        assertThat(viaProxy("/fail?rate=1").statusCode()).isEqualTo(500);
        await("the last response recorded").atMost(Duration.ofSeconds(5)).until(() ->
                registry.get("canary.proxy.requests").tag("release", "blue").tag("status", "5xx").counter()
                        .count() == 1);

        MainTest.Result r = ctl("status");
        assertThat(r.err()).isEmpty();
        assertThat(r.status()).isZero();
        String[] lines = r.out().split("\\R");
        assertThat(lines[0]).matches("stable +blue");
        assertThat(lines[1]).matches("canary +none");
        assertThat(lines[2]).matches("version +0 \\(changed \\S+Z\\)");
        assertThat(lines[3]).matches("analysis +idle");
        assertThat(r.out()).doesNotContain("outcome").doesNotContain("VERDICT");
        assertThat(r.out()).containsPattern("(?m)^RELEASE +ROUTE +IN-FLIGHT +CONNECTIONS +UPGRADED +DRAINED +REQUESTS"
                + " +5XX$");
        assertThat(r.out()).containsPattern("(?m)^blue +stable 100% +0 +\\d+ +0 +no +5 +1$");
        assertThat(r.out()).containsPattern("(?m)^green +- +0 +0 +0 +yes +0 +0$");
        assertThat(r.out()).containsPattern("(?m)^RELEASE +ENDPOINT +HEALTH +CONNECTIONS$");
        assertThat(r.out()).containsPattern("(?m)^blue +127\\.0\\.0\\.1:" + blue.port() + " +healthy +\\d+$");
        assertThat(r.out()).containsPattern("(?m)^green +127\\.0\\.0\\.1:" + green.port() + " +healthy +0$");
    }

    @Test
    void statusShowsTheCanaryAndWhoIsUnhealthy() throws Exception {
        assertThat(ctl("canary", "green", "12.5").status()).isZero();
        fixture.unhealthy("green", true);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> !proxy.status().releases().get("green").endpoints().get(0).healthy());

        MainTest.Result r = ctl("status");
        assertThat(r.status()).isZero();
        assertThat(r.out()).containsPattern("(?m)^canary +green at 12\\.5%$");
        assertThat(r.out()).containsPattern("(?m)^blue +stable 87\\.5% ");
        assertThat(r.out()).containsPattern("(?m)^green +canary 12\\.5% ");
        assertThat(r.out()).containsPattern("(?m)^RELEASE +ENDPOINT +HEALTH +CONNECTIONS +WHY$");
        assertThat(r.out()).containsPattern("(?m)^green +127\\.0\\.0\\.1:" + green.port()
                + " +UNHEALTHY +0 +health check: GET /healthz answered 503$");
    }

    @Test
    void statusWithoutMetricsLeavesTheCountsOut() {
        try (CanaryProxy plain = CanaryProxy.start(proxy.config());
                AdminServer plainAdmin = new AdminServer(plain, plain.config().admin()).start()) {
            MainTest.Result r = MainTest.run("ctl", "status", "--admin",
                    "127.0.0.1:" + plainAdmin.address().getPort());
            assertThat(r.status()).isZero();
            assertThat(r.out()).containsPattern("(?m)^RELEASE +ROUTE +IN-FLIGHT +CONNECTIONS +UPGRADED +DRAINED$")
                    .doesNotContain("REQUESTS");
        }
    }

    @Test
    void statusAsJson() throws Exception {
        MainTest.Result r = ctl("status", "--json");
        assertThat(r.status()).isZero();
        JsonNode status = new ObjectMapper().readTree(r.out());
        assertThat(status.get("stable").asText()).isEqualTo("blue");
        assertThat(status.get("releases").fieldNames()).toIterable().containsExactly("blue", "green");
    }

    @Test
    void canaryPromoteAndRollback() throws Exception {
        MainTest.Result canary = ctl("canary", "green", "10");
        assertThat(canary.err()).isEmpty();
        assertThat(canary.status()).isZero();
        assertThat(canary.out()).isEqualTo("canary: green at 10% of users, stable blue; route table v1" + NL);
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(1000);

        MainTest.Result promote = ctl("promote");
        assertThat(promote.status()).isZero();
        assertThat(promote.out()).isEqualTo("promoted green: stable at 100%; blue drains (canary-proxy ctl drain"
                + " blue); route table v2" + NL);
        assertThat(proxy.routes().stable()).isEqualTo("green");
        assertThat(viaProxy("/").body()).isEqualTo("release=green\n");

        assertThat(ctl("canary", "blue", "0.5", "--force").status()).isZero();
        MainTest.Result rollback = ctl("rollback");
        assertThat(rollback.status()).isZero();
        assertThat(rollback.out()).isEqualTo("rolled back blue: green stable at 100%; blue drains (canary-proxy ctl"
                + " drain blue); route table v4" + NL);
        assertThat(proxy.routes().canary()).isNull();
    }

    @Test
    void switchAndSwitchBack() throws Exception {
        MainTest.Result r = ctl("switch", "green");
        assertThat(r.status()).isZero();
        assertThat(r.out()).isEqualTo("stable: green at 100% (was blue); route table v1" + NL);
        assertThat(viaProxy("/").body()).isEqualTo("release=green\n");

        assertThat(ctl("canary", "blue", "50").status()).isZero();
        MainTest.Result back = ctl("switch", "blue", "--force");
        assertThat(back.status()).isZero();
        assertThat(back.out()).isEqualTo("stable: blue at 100% (was green + canary blue); route table v3" + NL);
    }

    @Test
    void anUnknownReleaseIsRefusedWithTheProxysMessageAndExitStatus1() {
        for (String[] args : new String[][] {{"switch", "purple"}, {"canary", "purple", "10"},
            {"drain", "purple"}}) {
            MainTest.Result r = ctl(args);
            assertThat(r.status()).as(String.join(" ", args)).isEqualTo(1);
            assertThat(r.err()).as(String.join(" ", args))
                    .isEqualTo("canary-proxy: unknown release 'purple' (known: blue, green)" + NL);
            assertThat(r.out()).isEmpty();
        }
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void refusalsAreExitStatus1WithOneLineOnStderr() throws Exception {
        MainTest.Result promote = ctl("promote");
        assertThat(promote.status()).isEqualTo(1);
        assertThat(promote.err()).isEqualTo("canary-proxy: there is no canary to promote" + NL);

        MainTest.Result rollback = ctl("rollback");
        assertThat(rollback.status()).isEqualTo(1);
        assertThat(rollback.err()).isEqualTo("canary-proxy: there is no canary to roll back" + NL);

        MainTest.Result stable = ctl("canary", "blue", "10");
        assertThat(stable.status()).isEqualTo(1);
        assertThat(stable.err()).isEqualTo("canary-proxy: 'blue' is the stable release; a canary must be another" + NL);

        fixture.unhealthy("green", true);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> !proxy.status().releases().get("green").endpoints().get(0).healthy());
        MainTest.Result unhealthy = ctl("switch", "green");
        assertThat(unhealthy.status()).isEqualTo(1);
        assertThat(unhealthy.err()).startsWith("canary-proxy: release 'green' has no healthy endpoint (")
                .contains(": GET /healthz answered 503").endsWith("); start it first, or force the switch" + NL);
        assertThat(proxy.routes().stable()).isEqualTo("blue");
    }

    @Test
    void withoutTheTokenMutationsAreRefusedWithAHint() {
        MainTest.Result r = MainTest.run("ctl", "switch", "green", "--admin", admin);
        assertThat(r.status()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("canary-proxy: missing Authorization: Bearer <token> header (proxy.admin.token"
                + " is set) (give the admin token with --token or CANARY_PROXY_TOKEN)" + NL);
        MainTest.Result wrong = MainTest.run("ctl", "--admin", admin, "--token", "guess", "promote");
        assertThat(wrong.status()).isEqualTo(1);
        assertThat(wrong.err()).startsWith("canary-proxy: wrong bearer token");
        // reads need none
        assertThat(MainTest.run("ctl", "status", "--admin", admin).status()).isZero();
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void startPauseAndResumeTheAnalysisAndStatusFollowsIt() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.status().releases().values().stream()
                .allMatch(r -> r.endpoints().get(0).healthy()));
        MainTest.Result start = ctl("start", "green");
        assertThat(start.err()).isEmpty();
        assertThat(start.status()).isZero();
        assertThat(start.out()).isEqualTo("analysis running: green at 10% (step 0); follow it with canary-proxy ctl"
                + " status" + NL);
        assertThat(proxy.routes().canary()).isEqualTo("green");

        MainTest.Result running = ctl("status");
        assertThat(running.status()).isZero();
        assertThat(running.out()).containsPattern("(?m)^canary +green at 10%$")
                .containsPattern("(?m)^analysis +running: green at 10% \\(step 0\\)$");

        MainTest.Result pause = ctl("pause");
        assertThat(pause.status()).isZero();
        assertThat(pause.out()).isEqualTo("analysis paused: green at 10% (step 0)" + NL);
        assertThat(ctl("status").out()).containsPattern("(?m)^analysis +paused: green at 10% \\(step 0\\)$");

        try (LoadGenerator load = LoadGenerator.builder(proxy.listenAddress()).getClients(4).postClients(0)
                .manyUsers(true).start()) {
            load.awaitSuccesses(100, Duration.ofSeconds(20));
            MainTest.Result resume = ctl("resume");
            assertThat(resume.status()).isZero();
            assertThat(resume.out()).isEqualTo("analysis running: green at 10% (step 0)" + NL);
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100))
                    .until(() -> proxy.status().analysis().state() == Analysis.State.IDLE);
        }

        MainTest.Result done = ctl("status");
        assertThat(done.status()).isZero();
        assertThat(done.out()).containsPattern("(?m)^stable +green$")
                .containsPattern("(?m)^analysis +idle$")
                .containsPattern("(?m)^outcome +promoted after 2 steps \\(green\\)$")
                .containsPattern("(?m)^CHECKED +STEP +WEIGHT +VERDICT +CANARY REQ/ERR +STABLE REQ/ERR +REASON$")
                // A pass's reason depends on the latencies sampled ("no significant difference", or slower
                // "within the slack").
                .containsPattern("(?m)^\\S+Z +0 +10% +pass +\\d+/0 +\\d+/0 +\\S.*$")
                .containsPattern("(?m)^\\S+Z +1 +100% +pass +\\d+/0 +\\d+/0 +\\S.*$");
        int checks = proxy.status().analysis().history().size();
        String[] rows = done.out().substring(done.out().indexOf("CHECKED")).split("\\R");
        int shown = Ctl.StatusTable.CHECKS_SHOWN;
        assertThat(rows).hasSize(1 + Math.min(checks, shown) + (checks > shown ? 1 : 0));
        if (checks > shown) {
            assertThat(rows[rows.length - 1]).isEqualTo("(" + Ctl.count(checks - shown, "earlier check")
                    + ": canary-proxy ctl status --json)");
        }
    }

    @Test
    void statusMarksAnEndpointAReloadRemovedWhileItHasConnections() throws Exception {
        JsonNode status = new ObjectMapper().readTree("""
                {"stable":"blue","canary":null,"weight":0,"version":3,"releases":{"blue":{
                  "endpoints":[{"address":"127.0.0.1:8002","healthy":true,"connections":4,"removed":false},
                               {"address":"127.0.0.1:8001","healthy":true,"connections":2,"removed":true}],
                  "inflight":1,"connections":6,"upgraded":0,"routed":true,"drained":false}}}
                """);
        String out = Ctl.StatusTable.render(status, null);
        assertThat(out).containsPattern("(?m)^blue +127\\.0\\.0\\.1:8002 +healthy +4$")
                .containsPattern("(?m)^blue +127\\.0\\.0\\.1:8001 +removed +2$");
    }

    @Test
    void analysisRefusalsAreExitStatus1WithTheProxysReason() throws Exception {
        MainTest.Result pause = ctl("pause");
        assertThat(pause.status()).isEqualTo(1);
        assertThat(pause.err()).isEqualTo("canary-proxy: no analysis is running" + NL);
        assertThat(ctl("resume").err()).isEqualTo("canary-proxy: no analysis is running" + NL);

        MainTest.Result stable = ctl("start", "blue");
        assertThat(stable.status()).isEqualTo(1);
        assertThat(stable.err()).isEqualTo("canary-proxy: 'blue' is the stable release; a canary must be another" + NL);
        MainTest.Result unknown = ctl("start", "purple");
        assertThat(unknown.status()).isEqualTo(1);
        assertThat(unknown.err()).isEqualTo("canary-proxy: unknown release 'purple' (known: blue, green)" + NL);
        assertThat(ctl("start").status()).isEqualTo(2);

        fixture.unhealthy("green", true);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> !proxy.status().releases().get("green").endpoints().get(0).healthy());
        MainTest.Result unhealthy = ctl("start", "green");
        assertThat(unhealthy.status()).isEqualTo(1);
        assertThat(unhealthy.err()).startsWith("canary-proxy: release 'green' has no healthy endpoint (")
                .contains(": GET /healthz answered 503").endsWith("); start it first, or force the analysis" + NL);
        assertThat(proxy.routes().canary()).isNull();

        MainTest.Result forced = ctl("start", "green", "--force", "--json");
        assertThat(forced.status()).isZero();
        assertThat(new ObjectMapper().readTree(forced.out()).get("state").asText()).isEqualTo("running");
        MainTest.Result again = ctl("start", "green", "--force");
        assertThat(again.status()).isEqualTo(1);
        assertThat(again.err()).isEqualTo("canary-proxy: an analysis of green is running; end it first (promote,"
                + " rollback)" + NL);
        assertThat(again.out()).isEmpty();
    }

    @Test
    void aStateFileThatCannotBeWrittenIsExitStatus1SayingWhy() throws Exception {
        Path notADirectory = dir.resolve("var");
        Path stateFile = notADirectory.resolve("state.json");
        Path conf = dir.resolve("unwritable.conf");
        Files.writeString(conf, Files.readString(file).replace("state-file = \"\"",
                "state-file = \"" + stateFile + "\""));
        try (CanaryProxy unwritable = CanaryProxy.start(Main.loadConfig(conf));
                AdminServer unwritableAdmin = new AdminServer(unwritable, unwritable.config().admin()).start()) {
            // the state file's directory turns into a file after the start
            Files.delete(notADirectory.resolve("state.json.lock")); // the running proxy's lock
            Files.delete(notADirectory);
            Files.writeString(notADirectory, "not a directory\n");
            MainTest.Result r = MainTest.run("ctl", "switch", "green", "--force", "--admin",
                    "127.0.0.1:" + unwritableAdmin.address().getPort(), "--token", TOKEN);
            assertThat(r.status()).isEqualTo(1);
            assertThat(r.err()).isEqualTo("canary-proxy: cannot write state file " + stateFile + ": " + notADirectory
                    + ": Not a directory" + NL);
            assertThat(unwritable.routes().stable()).isEqualTo("blue");
        }
    }

    @Test
    void drainWaitsForTheReleaseAndSaysWhatIsStillOpen() throws Exception {
        MainTest.Result idle = ctl("drain", "green");
        assertThat(idle.status()).isZero();
        assertThat(idle.out()).isEqualTo("release green is drained" + NL);

        CompletableFuture<HttpResponse<String>> slow = client.sendAsync(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + proxy.listenAddress().getPort() + "/slow?ms=" + SLOW.toMillis()))
                .timeout(SLOW.multipliedBy(5)).build(), HttpResponse.BodyHandlers.ofString());
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.status().releases().get("blue").inflight() == 1);
        assertThat(ctl("switch", "green").status()).isZero();
        MainTest.Result busy = ctl("drain", "blue", "--timeout", "200ms");
        assertThat(busy.status()).isEqualTo(1);
        assertThat(busy.err()).matches(Pattern.quote("canary-proxy: release blue is not drained after 200ms: 1"
                + " request in flight, 1 connection open (0 upgraded): GET /slow?… from 127.0.0.1, ")
                + "\\d+\\.\\d s, waiting for the response" + Pattern.quote(NL));
        assertThat(slow).isNotDone();

        MainTest.Result drained = ctl("drain", "blue", "--timeout", "10s");
        assertThat(drained.status()).isZero();
        assertThat(drained.out()).isEqualTo("release blue is drained" + NL);
        assertThat(slow.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);

        // A retried switch answers with green as the release before it: draining that must not say "drained".
        MainTest.Result live = ctl("drain", "green");
        assertThat(live.status()).isEqualTo(1);
        assertThat(live.err()).isEqualTo("canary-proxy: release 'green' still gets traffic: it is the stable release;"
                + " switch away from it before draining it" + NL);
    }

    @Test
    void reloadPrintsTheChangesOrWhyTheProxyRefused() throws Exception {
        String shown = file.toAbsolutePath().normalize().toString();
        MainTest.Result same = ctl("reload");
        assertThat(same.err()).isEmpty();
        assertThat(same.status()).isZero();
        assertThat(same.out()).isEqualTo("reloaded " + shown + ": nothing changed" + NL);

        String text = Files.readString(file);
        String greenEndpoints = "releases.green.endpoints = [\"127.0.0.1:" + green.port() + "\"]";
        String moreGreen = "releases.green.endpoints = [\"127.0.0.1:" + green.port() + "\", \"127.0.0.1:"
                + blue.port() + "\"]";
        Files.writeString(file, text.replace(greenEndpoints, moreGreen));
        MainTest.Result changed = ctl("reload");
        assertThat(changed.err()).isEmpty();
        assertThat(changed.status()).isZero();
        assertThat(changed.out()).isEqualTo("reloaded " + shown + ": 1 change" + NL
                + "  release green: endpoints [127.0.0.1:" + green.port() + "] -> [127.0.0.1:" + green.port()
                + ", 127.0.0.1:" + blue.port() + "]" + NL
                + "warning: proxy.releases.green.endpoints: 127.0.0.1:" + blue.port() + " is also an endpoint of"
                + " release blue: both releases send requests to the same processes there"
                + NL);
        assertThat(proxy.status().releases().get("green").endpoints()).hasSize(2);

        Files.writeString(file, text.replace("listen = \"127.0.0.1:0\"\n  threads", "listen = \"127.0.0.1:1\"\n"
                + "  threads"));
        MainTest.Result refused = ctl("reload");
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.out()).isEmpty();
        assertThat(refused.err()).isEqualTo("canary-proxy: reload refused, the running configuration stays:"
                + " proxy.listen changed from 127.0.0.1:0 to 127.0.0.1:1, which needs a restart" + NL);
        assertThat(proxy.status().releases().get("green").endpoints()).hasSize(2);
    }

    @Test
    void usageErrorsAreExitStatus2BeforeAnythingIsSent() {
        MainTest.Result weight = ctl("canary", "green", "abc");
        assertThat(weight.status()).isEqualTo(2);
        assertThat(weight.err()).startsWith("WEIGHT \"abc\": expected a percentage from 0 to 100 with at most 2"
                + " decimals, e.g. 10 or 12.5");
        MainTest.Result tooMuch = ctl("canary", "green", "150");
        assertThat(tooMuch.status()).isEqualTo(2);
        assertThat(tooMuch.err()).startsWith("WEIGHT \"150\": must be from 0 to 100");

        MainTest.Result timeout = ctl("drain", "blue", "--timeout", "soon");
        assertThat(timeout.status()).isEqualTo(2);
        assertThat(timeout.err()).startsWith("--timeout \"soon\": expected a duration such as 30s");

        assertThat(ctl("switch").status()).isEqualTo(2);
        assertThat(ctl("switch", "green", "blue").status()).isEqualTo(2);
        assertThat(ctl("bogus").status()).isEqualTo(2);

        MainTest.Result none = MainTest.run("ctl");
        assertThat(none.status()).isEqualTo(2);
        assertThat(none.err()).startsWith("missing command: status, switch, canary");

        MainTest.Result badUrl = MainTest.run("ctl", "status", "--admin", "ftp://127.0.0.1:9901");
        assertThat(badUrl.status()).isEqualTo(2);
        assertThat(badUrl.err()).startsWith("--admin \"ftp://127.0.0.1:9901\": expected a URL such as"
                + " http://127.0.0.1:9901");
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void nothingListeningIsExitStatus3() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        for (String command : new String[] {"status", "promote", "reload"}) {
            MainTest.Result r = MainTest.run("ctl", command, "--admin", "127.0.0.1:" + port);
            assertThat(r.status()).as(command).isEqualTo(3);
            assertThat(r.err()).as(command).isEqualTo("canary-proxy: cannot reach the admin API at http://127.0.0.1:"
                    + port + ": connection refused (is canary-proxy running there? choose the address with --admin"
                    + " or CANARY_PROXY_ADMIN_URL)" + NL);
            assertThat(r.out()).isEmpty();
        }
    }

    @Test
    void somethingElseListeningIsExitStatus3() {
        MainTest.Result r = MainTest.run("ctl", "status", "--admin", "http://127.0.0.1:" + blue.port());
        assertThat(r.status()).as("the admin API was not reached").isEqualTo(3);
        assertThat(r.err()).startsWith("canary-proxy: unexpected answer from http://127.0.0.1:" + blue.port()
                + "/status: HTTP 404").contains("canary-proxy's admin API?").hasLineCount(1);
    }

    /** The admin API's own 404: --admin has a path, and the proxy was asked nothing. */
    @Test
    void anAdminUrlWithAPathIsExitStatus3() {
        MainTest.Result r = MainTest.run("ctl", "status", "--admin", admin + "/foo");
        assertThat(r.status()).isEqualTo(3);
        assertThat(r.err()).startsWith("canary-proxy: no such endpoint: /foo/status").contains(
                "(--admin is the admin API's address without a path, such as " + admin + ")").hasLineCount(1);
    }

    @Test
    void theAdminUrlAndTokenComeFromOptionsThenTheEnvironment() {
        assertThat(Ctl.adminUri(null, Map.of())).isEqualTo(URI.create("http://127.0.0.1:9901"));
        assertThat(Ctl.adminUri(null, Map.of(Ctl.ENV_ADMIN_URL, "10.0.0.1:9000")))
                .isEqualTo(URI.create("http://10.0.0.1:9000"));
        assertThat(Ctl.adminUri(null, Map.of(Ctl.ENV_ADMIN_URL, " ")))
                .isEqualTo(URI.create("http://127.0.0.1:9901"));
        assertThat(Ctl.adminUri("https://admin.example:8443/proxy/", Map.of(Ctl.ENV_ADMIN_URL, "10.0.0.1:9000")))
                .isEqualTo(URI.create("https://admin.example:8443/proxy"));
        assertThat(Ctl.adminUri("[::1]:9901", Map.of())).isEqualTo(URI.create("http://[::1]:9901"));
        assertThatThrownBy(() -> Ctl.adminUri(null, Map.of(Ctl.ENV_ADMIN_URL, "http://x:9901/?a=b")))
                .hasMessage(Ctl.ENV_ADMIN_URL + " \"http://x:9901/?a=b\": expected a URL such as http://127.0.0.1:9901");
        assertThatThrownBy(() -> Ctl.adminUri("http:// bad", Map.of())).isInstanceOf(IllegalArgumentException.class);

        assertThat(Ctl.token(null, Map.of())).isNull();
        assertThat(Ctl.token("a", Map.of(Ctl.ENV_TOKEN, "b"))).isEqualTo("a");
        assertThat(Ctl.token(null, Map.of(Ctl.ENV_TOKEN, "b", Ctl.ENV_ADMIN_TOKEN, "c"))).isEqualTo("b");
        assertThat(Ctl.token(null, Map.of(Ctl.ENV_ADMIN_TOKEN, "c"))).isEqualTo("c");
    }

    @Test
    void aBadAdminAddressOrTokenIsAUsageErrorOnOneLine() {
        assertThatThrownBy(() -> Ctl.adminUri("127.0.0.1:99999", Map.of()))
                .hasMessage("--admin \"127.0.0.1:99999\": port must be between 0 and 65535");
        assertThatThrownBy(() -> Ctl.adminUri(null, Map.of(Ctl.ENV_ADMIN_URL, "127.0.0.1")))
                .hasMessage(Ctl.ENV_ADMIN_URL + " \"127.0.0.1\": expected host:port such as 127.0.0.1:9901, or a URL");
        assertThat(Ctl.adminUri("http://admin.example", Map.of())).isEqualTo(URI.create("http://admin.example"));
        assertThatThrownBy(() -> Ctl.token("s3cret\r\nX-Evil: 1", Map.of()))
                .hasMessage("--token: expected printable ASCII without spaces or line breaks");
        assertThatThrownBy(() -> Ctl.token(null, Map.of(Ctl.ENV_TOKEN, "a b")))
                .hasMessage(Ctl.ENV_TOKEN + ": expected printable ASCII without spaces or line breaks");

        MainTest.Result port = MainTest.run("ctl", "status", "--admin", "127.0.0.1:99999");
        assertThat(port.status()).isEqualTo(2);
        assertThat(port.err()).startsWith("--admin \"127.0.0.1:99999\": port must be between 0 and 65535")
                .doesNotContain("Exception");
        MainTest.Result token = MainTest.run("ctl", "status", "--admin", "127.0.0.1:9", "--token", "a\nb");
        assertThat(token.status()).isEqualTo(2);
        assertThat(token.err()).contains("--token: expected printable ASCII without spaces or line breaks")
                .doesNotContain("Exception");
    }

    @Test
    void help() {
        MainTest.Result r = MainTest.run("ctl", "--help");
        assertThat(r.status()).isZero();
        assertThat(r.out()).contains("Usage: canary-proxy ctl").contains("status").contains("switch")
                .contains("canary").contains("start").contains("pause").contains("resume").contains("promote").contains("rollback").contains("drain").contains("reload")
                .contains("3   cannot reach the admin API");
        assertThat(r.err()).isEmpty();
        MainTest.Result canary = MainTest.run("ctl", "canary", "--help");
        assertThat(canary.status()).isZero();
        assertThat(canary.out()).contains("Sends WEIGHT% of users to RELEASE");
        assertThat(canary.err()).isEmpty();
        MainTest.Result start = MainTest.run("ctl", "start", "--help");
        assertThat(start.status()).isZero();
        assertThat(start.out()).contains("Starts the automated canary analysis of RELEASE").contains("--force");
    }

    private HttpResponse<String> viaProxy(String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.listenAddress().getPort()
                + path)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
