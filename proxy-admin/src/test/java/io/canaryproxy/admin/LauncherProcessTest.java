package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.RawHttpClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher as an operator runs it: a separate JVM, stopped with a signal. */
class LauncherProcessTest {

    private static final Duration STARTUP = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final List<Launched> launched = new ArrayList<>();
    private final List<AutoCloseable> resources = new ArrayList<>();
    /** Added to the environment of the launched process. */
    private final Map<String, String> environment = new HashMap<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (Launched l : launched) {
            l.process.destroyForcibly();
        }
        for (AutoCloseable r : resources) {
            r.close();
        }
        for (Launched l : launched) {
            l.drained();
            assertThat(l.stdout).as("leak reports").noneMatch(line -> line.contains("LEAK:"));
            assertThat(l.stderr).as("leak reports").noneMatch(line -> line.contains("LEAK:"));
        }
    }

    @Test
    void runsFromAConfigFileLogsWhatItDoesAndStopsWithExitStatus0OnSigterm() throws Exception {
        // the variables of ctl in the same environment are no config keys
        environment.put(Ctl.ENV_ADMIN_URL, "http://127.0.0.1:9901");
        environment.put(Ctl.ENV_TOKEN, "for-ctl");
        DemoBackends backends = DemoBackends.start("blue", "green");
        resources.add(backends);
        Path conf = config(blueAndGreen(backends, "green", ""));
        Launched l = launch("--config", conf.toString());
        int proxyPort = Integer.parseInt(l.awaitLine("listening on 127\\.0\\.0\\.1:(\\d+)").group(1));
        int adminPort = Integer.parseInt(l.awaitLine("admin API on http://127\\.0\\.0\\.1:(\\d+)/").group(1));
        l.awaitLine("release blue: 127\\.0\\.0\\.1:" + backends.address("blue").getPort());
        l.awaitLine("release green: 127\\.0\\.0\\.1:" + backends.address("green").getPort());
        l.awaitLine("route table v\\d+: green");

        assertThat(get("http://127.0.0.1:" + adminPort + "/healthz").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get("http://127.0.0.1:" + proxyPort + "/").body()).isEqualTo("Hello from green\n"));

        l.stopsOn("TERM");
        l.awaitLine("SIGTERM received: stopping");
        l.awaitLine("exiting");
        assertThat(l.stderr).isEmpty();
    }

    @Test
    void sighupReReadsTheConfigFileAndTheProxyKeepsRunningWhateverComesOfIt() throws Exception {
        DemoBackends backends = DemoBackends.start("blue", "green", "green-v2");
        resources.add(backends);
        String green = "127.0.0.1:" + backends.address("green").getPort();
        String greenV2 = "127.0.0.1:" + backends.address("green-v2").getPort();
        String greenLine = "green { endpoints = [\"" + green + "\"] }";
        String greenV2Line = "green { endpoints = [\"" + greenV2 + "\"] }";
        String text = "proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + "  releases {\n"
                + "    blue { endpoints = [\"127.0.0.1:" + backends.address("blue").getPort() + "\"] }\n"
                + "    " + greenLine + "\n"
                + "  }\n"
                + "  routing { stable = blue }\n"
                + "  health-check { interval = 100ms, timeout = 100ms }\n"
                + "}\n";
        Path conf = config(text);
        String shown = Pattern.quote(conf.toAbsolutePath().normalize().toString());
        Launched l = launch("--config", conf.toString());
        int proxyPort = Integer.parseInt(l.awaitLine("listening on 127\\.0\\.0\\.1:(\\d+)").group(1));
        int adminPort = Integer.parseInt(l.awaitLine("admin API on http://127\\.0\\.0\\.1:(\\d+)/").group(1));
        String proxyUrl = "http://127.0.0.1:" + proxyPort;
        String adminUrl = "http://127.0.0.1:" + adminPort;
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from blue\n"));

        // the launcher's registry: the proxy's meters and the JVM's
        HttpResponse<String> metrics = get(adminUrl + "/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("content-type")).hasValue(AdminHandler.PROMETHEUS_TEXT);
        assertThat(metrics.body()).contains("canary_proxy_requests_total{release=\"blue\",status=\"2xx\"}")
                .contains("jvm_memory_used_bytes").contains("jvm_gc_").contains("process_uptime_seconds");

        // a file that does not parse: refused, the proxy serves on
        Files.writeString(conf, text.replace("routing { stable = blue }", "routing { stable = "));
        l.signal("HUP");
        l.awaitLine("SIGHUP: reload of " + shown + " refused, the running configuration stays: syntax error in ");
        assertThat(l.process.isAlive()).isTrue();
        assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from blue\n");

        // green moves to a new backend: applied
        Files.writeString(conf, text.replace(greenLine, greenV2Line));
        l.signal("HUP");
        l.awaitLine("SIGHUP: reload of " + shown + ": 1 change: "
                + Pattern.quote("release green: endpoints [" + green + "] -> [" + greenV2 + "]"));
        assertThat(get(adminUrl + "/status").body()).contains("\"address\" : \"" + greenV2 + "\"")
                .doesNotContain("\"address\" : \"" + green + "\"");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(post(adminUrl + "/switch?release=green").statusCode()).isEqualTo(200));
        assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from green-v2\n");

        // a new listen address needs a restart: refused as a whole, the proxy serves on where it was
        Files.writeString(conf, text.replace(greenLine, greenV2Line).replace("listen = \"127.0.0.1:0\"\n  admin",
                "listen = \"127.0.0.1:1\"\n  admin"));
        l.signal("HUP");
        l.awaitLine("SIGHUP: reload of " + shown + " refused, the running configuration stays: proxy\\.listen changed"
                + " from 127\\.0\\.0\\.1:0 to 127\\.0\\.0\\.1:1, which needs a restart");
        assertThat(l.process.isAlive()).isTrue();
        assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from green-v2\n");

        // the file as it runs: nothing to change
        Files.writeString(conf, text.replace(greenLine, greenV2Line));
        HttpResponse<String> reload = post(adminUrl + "/reload");
        assertThat(reload.statusCode()).isEqualTo(200);
        assertThat(reload.body()).contains("\"reloaded\" : true").contains("\"changes\" : [ ]");
        l.awaitLine("127\\.0\\.0\\.1:\\d+: reload of " + shown + ": nothing changed");

        l.stopsOn("TERM");
        assertThat(l.stderr).isEmpty();
    }

    /** nohup starts the JVM with SIGHUP ignored, and the JVM then keeps it so: the log must say that. */
    @Test
    void underNohupTheLogSaysThatSighupCannotReload() throws Exception {
        DemoBackends backends = DemoBackends.start("blue");
        resources.add(backends);
        Path conf = config("proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + "  releases.blue.endpoints = [\"127.0.0.1:" + backends.address("blue").getPort() + "\"]\n"
                + "  routing.stable = blue\n"
                + "}\n");
        Launched l = launchUnder(List.of("nohup"), "--config", conf.toString());
        l.awaitLine("SIGHUP is ignored by this process \\(started under nohup or with the signal ignored\\), so it"
                + " cannot reload the configuration: reload with POST /reload or canary-proxy ctl reload");
        l.awaitLine("route table v\\d+: blue");
        assertThat(l.ignores(1)).isTrue();
        l.stopsOn("TERM");
    }

    /**
     * A proxy out of file descriptors cannot accept or connect, and that is its own limit: its requests get a quick
     * 503 that says so, in one line every ten seconds rather than a stack trace per failed accept, and neither the
     * endpoints it could not connect to nor the health checks it could not make count against a release (a canary
     * would otherwise be rolled back for the proxy's shortage). Once connections close it serves again.
     */
    @Test
    void outOfFileDescriptorsIsTheProxysOwnShortageNotTheEndpoints() throws Exception {
        DemoBackends backends = DemoBackends.start("blue", "green");
        resources.add(backends);
        Path conf = config(blueAndGreen(backends, "blue", """
                  threads = 1
                  health-check { interval = 500ms, timeout = 500ms, fall = 1 }
                  analysis { interval = 500ms, min-requests = 1000000, steps = [50, 100] }
                """));
        int limit = 400;
        Launched l = launchUnder(ulimit("-n " + limit), "--config", conf.toString());
        int proxyPort = Integer.parseInt(l.awaitLine("listening on 127\\.0\\.0\\.1:(\\d+)").group(1));
        int adminPort = Integer.parseInt(l.awaitLine("admin API on http://127\\.0\\.0\\.1:(\\d+)/").group(1));
        l.awaitLine("the open-files limit is " + limit + ": every client connection");
        assertThat(get("http://127.0.0.1:" + proxyPort + "/").body()).isEqualTo("Hello from blue\n");
        // A run judges green against blue meanwhile (every check holds: min-requests is out of reach).
        assertThat(post("http://127.0.0.1:" + adminPort + "/canary/start?release=green").statusCode()).isEqualTo(200);

        // More connections than the proxy has descriptors: those it accepts ask for a page it has no descriptor
        // to fetch; the rest wait in the listen queue until it can take them.
        List<java.net.Socket> clients = new ArrayList<>();
        try {
            for (int i = 0; i < limit + 100; i++) {
                java.net.Socket s = new java.net.Socket("127.0.0.1", proxyPort);
                s.setSoTimeout(30_000);
                clients.add(s);
            }
            // Only once the proxy has run out: a request that came while it was still accepting the rest could
            // have had its descriptor, and all the first hundred would be served.
            l.awaitLine("ERROR .*the proxy is out of file descriptors \\(open-files limit " + limit + "\\): cannot"
                    + " (connect to|accept connections on|make a health check of)");
            for (int i = 0; i < clients.size(); i++) {
                // Half of them the canary's users, half the stable release's.
                clients.get(i).getOutputStream().write(("GET / HTTP/1.1\r\nHost: shop.example\r\nCookie: cp_bucket="
                        + (i % 2 == 0 ? "0" : "9999") + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            }
            // The first accepted: the pooled connections serve some of them, one after the other.
            int unavailable = 0;
            for (java.net.Socket s : clients.subList(0, 100)) {
                String status = new BufferedReader(new InputStreamReader(s.getInputStream(),
                        StandardCharsets.US_ASCII)).readLine();
                assertThat(status).as("a 200 or the proxy's 503").isIn("HTTP/1.1 200 OK",
                        "HTTP/1.1 503 Service Unavailable");
                unavailable += status.contains("503") ? 1 : 0;
            }
            assertThat(unavailable).isPositive();
            l.awaitLine("503 GET / from 127\\.0\\.0\\.1 \\(release (blue|green)\\): cannot connect to .*: the proxy is"
                    + " out of file descriptors");
            // Ten seconds on, the next report: by then health checks with fall = 1 would have made both releases
            // unhealthy many times over, had they counted; the public and the admin listeners would have logged
            // twenty stack traces each.
            l.awaitLine("ERROR .*the proxy is out of file descriptors .*more failures since the last report");
        } finally {
            for (java.net.Socket s : clients) {
                s.close();
            }
        }

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(get("http://127.0.0.1:" + proxyPort + "/").body()).isIn("Hello from blue\n",
                        "Hello from green\n"));
        String status = get("http://127.0.0.1:" + adminPort + "/status").body();
        assertThat(status).doesNotContain("\"healthy\":false").doesNotContain("ejected");
        // The proxy's 503s are no release's errors: the run goes on, and no check counted one.
        com.fasterxml.jackson.databind.JsonNode analysis = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(status).get("analysis");
        assertThat(analysis.get("state").asText()).isEqualTo("running");
        assertThat(analysis.get("history")).isNotEmpty().allSatisfy(check -> {
            assertThat(check.get("canary").get("errors").asLong()).isZero();
            assertThat(check.get("stable").get("errors").asLong()).isZero();
        });
        assertThat(l.stdout).noneMatch(line -> line.contains("unhealthy: connect failed") || line.contains("ejected")
                || line.startsWith("\tat ") || line.contains("reached at the tail of the pipeline"));
        l.stopsOn("TERM");
        assertThat(l.stderr).isEmpty();
    }

    /**
     * The disk under {@code body-temp-dir} fills while a slow client's response goes through a file there (a file
     * size limit stands in for the full disk): the client still gets all of it. What the file holds goes out, then
     * what it could not take, and the rest of the response at the client's pace, as when no file can be made.
     */
    @Test
    void aResponseForASlowClientIsNotCutWhenTheDiskFillsUnderIt() throws Exception {
        Gunicorn blue = Gunicorn.unixSocket("blue", dir).workers(1).threads(1).start();
        resources.add(blue);
        Path temp = Files.createDirectory(dir.resolve("tmp"));
        Path conf = config("proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + "  limits.body-temp-dir = \"" + temp + "\"\n"
                + "  releases.blue.endpoints = [\"" + blue.endpoint() + "\"]\n"
                + "  routing.stable = blue\n"
                + "}\n");
        // Files of at most 512 KiB: a write beyond fails as on a full disk (EFBIG in place of ENOSPC).
        Launched l = launchUnder(ulimit("-f 512"), "--config", conf.toString());
        int proxyPort = Integer.parseInt(l.awaitLine("listening on 127\\.0\\.0\\.1:(\\d+)").group(1));

        int size = 16 * 1024 * 1024;
        try (java.net.Socket phone = new java.net.Socket()) {
            phone.setReceiveBufferSize(32 * 1024);
            phone.connect(new InetSocketAddress("127.0.0.1", proxyPort));
            phone.setSoTimeout(30_000);
            phone.getOutputStream().write(("GET /download?bytes=" + size + " HTTP/1.1\r\nHost: x\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            l.awaitLine("WARN .*cannot keep responses for slow clients in " + Pattern.quote(temp.toString())
                    + " \\(file too large\\): their upstreams wait for them meanwhile");

            java.io.InputStream in = phone.getInputStream();
            String head = HttpHeads.read(in);
            assertThat(head).startsWith("HTTP/1.1 200 OK\r\n").contains("\r\nContent-Length: " + size + "\r\n");
            Gunicorn.assertDownload(in.readNBytes(size), size);
        }
        assertThat(l.stdout).noneMatch(line -> line.contains("the response is cut"));
        l.stopsOn("TERM");
    }

    /**
     * Under systemd socket activation the listening socket belongs to the {@code .socket} unit, not to the proxy: a
     * restart (SIGTERM, then the next process) refuses no connection. New visitors keep coming throughout; those
     * that come while no proxy runs wait in the socket's queue for the next one.
     */
    @Test
    void underSocketActivationARestartRefusesNoConnection() throws Exception {
        Gunicorn blue = Gunicorn.unixSocket("blue", dir).workers(2).start();
        resources.add(blue);
        Path conf = config(singleRelease(blue.endpoint()));
        Launched l = launchUnder(socketUnit(2, "nonblocking"), "--config", conf.toString());
        int port = Integer.parseInt(l.awaitLine("^listening (\\d+)$").group(1));
        long first = Long.parseLong(l.awaitLine("^started (\\d+)$").group(1));
        l.awaitLine("taking the listening socket systemd passed, on 127\\.0\\.0\\.1:" + port
                + " \\(proxy.listen = 127\\.0\\.0\\.1:0 is not used\\)");

        try (NewVisitors visitors = new NewVisitors(new InetSocketAddress("127.0.0.1", port), 4)) {
            visitors.awaitAnswers(20);
            signal("TERM", first);
            l.awaitLine("^exited 0$");
            long noProxyRunning = System.nanoTime();
            l.awaitLine("^started (?!" + first + "$)(\\d+)$");
            await().atMost(STARTUP).until(() -> count(l.stdout, "taking the listening socket systemd passed") == 2);
            visitors.awaitAnswers(visitors.answered() + 20);
            visitors.stop();

            assertThat(visitors.failures).isEmpty();
            assertThat(visitors.exchanges).as("visitors who came while no proxy ran and were answered by the next")
                    .anyMatch(e -> e[0] < noProxyRunning && e[1] > noProxyRunning);
        }
    }

    /**
     * A socket in blocking mode would stall the event loop at its last accept; the service unit must say
     * NonBlocking=true.
     */
    @Test
    void aBlockingSocketFromSystemdIsOneLineAndExitStatus2() throws Exception {
        Path conf = config(singleRelease("127.0.0.1:1"));
        Launched l = launchUnder(socketUnit(1, "blocking"), "--config", conf.toString());
        l.awaitLine("^exited 2$");
        l.drained();
        assertThat(l.stderr).containsExactly("canary-proxy: descriptor 3, the socket systemd passed, is in blocking"
                + " mode, which would stall the event loop: set NonBlocking=true in canary-proxy's .service unit");
    }

    @Test
    void demoModeSwitchesBetweenTheBuiltInBackends() throws Exception {
        Launched l = launch("demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
        String proxyUrl = l.awaitLine("curl -i (http://127\\.0\\.0\\.1:\\d+)/").group(1);
        String adminUrl = l.awaitLine("curl -X POST '(http://127\\.0\\.0\\.1:\\d+)/switch\\?release=green'").group(1);
        l.awaitLine("curl '" + Pattern.quote(adminUrl) + "/status'");

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from blue\n"));
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(post(adminUrl + "/switch?release=green").statusCode()).isEqualTo(200));
        assertThat(get(proxyUrl + "/").body()).isEqualTo("Hello from green\n");
        l.awaitLine("switch: blue -> green");

        HttpResponse<String> reload = post(adminUrl + "/reload");
        assertThat(reload.statusCode()).isEqualTo(409);
        assertThat(reload.body()).contains("\"reloaded\" : false").contains("the demo runs without a config file");
        l.signal("HUP");
        l.awaitLine("SIGHUP: reload: nothing to reload: the demo runs without a config file");
        assertThat(l.process.isAlive()).isTrue();

        l.stopsOn("TERM");
        l.awaitLine("SIGTERM received: stopping");
    }

    @Test
    void theDemoAliasFlagRunsTheDemoTooAndStopsWithExitStatus0OnSigint() throws Exception {
        Launched l = launch("--demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
        l.awaitLine("curl -i http://127\\.0\\.0\\.1:\\d+/");
        // A process started in the background by a non-interactive shell inherits SIGINT as ignored, and a JVM
        // cannot catch an ignored signal; then this says nothing about the launcher.
        Assumptions.assumeFalse(l.ignores(2), "SIGINT is ignored in this process tree");
        l.stopsOn("INT");
        l.awaitLine("SIGINT received: stopping");
    }

    @Test
    void aBadConfigIsALinePerProblemOnStderrAndExitStatus2() throws Exception {
        Path conf = config("proxy { listen = \"nonsense\" }\n");
        Launched l = launch("--config", conf.toString());
        assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(l.process.exitValue()).isEqualTo(2);
        l.drained();
        assertThat(l.stderr).hasSize(3).noneMatch(line -> line.contains("Exception"));
        assertThat(l.stderr.get(0)).isEqualTo("canary-proxy: 2 problems in the configuration:");
        assertThat(l.stderr.get(1)).startsWith("  proxy.listen = \"nonsense\": ");
        assertThat(l.stderr.get(2)).startsWith("  proxy.releases = {}: ");
    }

    /** Under a C locale Java cannot look up a non-ASCII file name: said at start, not only by each 404. */
    @Test
    void staticFilesUnderALocaleWithoutUtf8AreWarnedOf() throws Exception {
        Path statics = Files.createDirectories(dir.resolve("static"));
        environment.put("LC_ALL", "C");
        Path conf = config("proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + "  releases { blue { endpoints = [\"127.0.0.1:1\"], static { prefix = \"/static/\", root = \""
                + statics + "\" } } }\n"
                + "  routing { stable = blue }\n"
                + "  health-check.interval = 0\n"
                + "}\n");
        Launched l = launch("--config", conf.toString());
        l.awaitLine("file names are read as \\S+, not UTF-8: static files whose names are not ASCII get 404; start"
                + " the proxy with LANG=C.UTF-8");
    }

    @Test
    void aListenerPortInUseIsOneLineAndExitStatus2() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path conf = minimalConfig("127.0.0.1:" + taken.getLocalPort(), "127.0.0.1:0", "");
            Launched l = launch("--config", conf.toString());
            assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(l.process.exitValue()).isEqualTo(2);
            l.drained();
            assertThat(l.stderr).containsExactly("canary-proxy: cannot listen on 127.0.0.1:" + taken.getLocalPort()
                    + ": Address already in use");
        }
    }

    /** The demo's addresses come from its options: the answer names the one to change. */
    @Test
    void aDemoPortInUseNamesTheOptionThatChoosesIt() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            String busy = "127.0.0.1:" + taken.getLocalPort();
            Launched l = launch("demo", "--listen", busy, "--admin", "127.0.0.1:0");
            assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(l.process.exitValue()).isEqualTo(2);
            l.drained();
            assertThat(l.stderr).containsExactly("canary-proxy: cannot listen on " + busy
                    + ": Address already in use (choose another with --listen HOST:PORT)");

            l = launch("demo", "--listen", "127.0.0.1:0", "--admin", busy);
            assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(l.process.exitValue()).isEqualTo(2);
            l.drained();
            assertThat(l.stderr).containsExactly("canary-proxy: cannot listen for the admin API on " + busy
                    + ": Address already in use (choose another with --admin HOST:PORT)");
        }
    }

    @Test
    void anAdminPortInUseIsOneLineAndExitStatus2() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path conf = minimalConfig("127.0.0.1:0", "127.0.0.1:" + taken.getLocalPort(), "");
            Launched l = launch("--config", conf.toString());
            assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(l.process.exitValue()).isEqualTo(2);
            l.drained();
            assertThat(l.stderr).containsExactly("canary-proxy: cannot listen for the admin API on 127.0.0.1:"
                    + taken.getLocalPort() + ": Address already in use");
            // Found before the public port opened: no client was let in and then dropped.
            assertThat(l.stdout).noneMatch(line -> line.contains("listening on"));
        }
    }

    @Test
    void anExposedAdminListenerWithoutATokenIsRefused() throws Exception {
        Path conf = minimalConfig("127.0.0.1:0", "0.0.0.0:0", "");
        Launched l = launch("--config", conf.toString());
        assertThat(l.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(l.process.exitValue()).isEqualTo(2);
        l.drained();
        assertThat(l.stderr).hasSize(1);
        // the configuration check or the admin server's own check, whichever comes first
        assertThat(l.stderr.get(0)).startsWith("canary-proxy: ").contains("token").contains("0.0.0.0:0");
    }

    private Path minimalConfig(String listen, String admin, String token) throws IOException {
        return config("proxy {\n"
                + "  listen = \"" + listen + "\"\n"
                + "  admin { listen = \"" + admin + "\", token = \"" + token + "\" }\n"
                + "  state-file = \"\"\n"
                + "  releases { blue { endpoints = [\"127.0.0.1:1\"] } }\n"
                + "  routing { stable = blue }\n"
                + "}\n");
    }

    /**
     * Listener and admin API on free ports, no state file, {@code backends}' blue and green as the releases,
     * {@code stable} stable; {@code settings}: more lines inside {@code proxy { }}.
     */
    private static String blueAndGreen(DemoBackends backends, String stable, String settings) {
        return "proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + settings
                + "  releases {\n"
                + "    blue { endpoints = [\"127.0.0.1:" + backends.address("blue").getPort() + "\"] }\n"
                + "    green { endpoints = [\"127.0.0.1:" + backends.address("green").getPort() + "\"] }\n"
                + "  }\n"
                + "  routing { stable = " + stable + " }\n"
                + "}\n";
    }

    /** Listener and admin API on free ports, no state file, one release {@code blue} on {@code endpoint}. */
    private static String singleRelease(String endpoint) {
        return "proxy {\n"
                + "  listen = \"127.0.0.1:0\"\n"
                + "  admin { listen = \"127.0.0.1:0\" }\n"
                + "  state-file = \"\"\n"
                + "  releases.blue.endpoints = [\"" + endpoint + "\"]\n"
                + "  routing.stable = blue\n"
                + "}\n";
    }

    /**
     * A wrapper for {@link #launchUnder} standing in for a systemd {@code .socket} unit: it listens on a free port
     * and runs the JVM with the socket as descriptor 3, {@code runs} times, the next as soon as one exits.
     */
    private List<String> socketUnit(int runs, String mode) throws IOException {
        Path script = dir.resolve("socket-unit.py");
        try (var in = LauncherProcessTest.class.getResourceAsStream("/socket-unit.py")) {
            Files.copy(in, script);
        }
        return List.of("python3", script.toString(), "0", Integer.toString(runs), mode);
    }

    private static void signal(String name, long pid) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(kill.exitValue()).isZero();
    }

    private static long count(List<String> lines, String part) {
        return lines.stream().filter(line -> line.contains(part)).count();
    }

    /** Clients that each send one request on a new connection, again and again, as new visitors of a site do. */
    private static final class NewVisitors implements AutoCloseable {
        /** Sent and answered, in {@link System#nanoTime()}, for each request answered {@code 200}. */
        final Queue<long[]> exchanges = new ConcurrentLinkedQueue<>();
        final Queue<String> failures = new ConcurrentLinkedQueue<>();
        private final List<Thread> threads = new ArrayList<>();
        private volatile boolean running = true;

        NewVisitors(InetSocketAddress proxy, int clients) {
            for (int i = 0; i < clients; i++) {
                Thread t = new Thread(() -> {
                    while (running) {
                        long sent = System.nanoTime();
                        try (RawHttpClient c = new RawHttpClient(proxy).readTimeout(STARTUP)) {
                            RawHttpClient.Response r = c.get("/", Map.of("Connection", "close"));
                            if (r.status() == 200) {
                                exchanges.add(new long[] {sent, System.nanoTime()});
                            } else {
                                failures.add(r.toString());
                            }
                        } catch (IOException e) {
                            failures.add(e.toString());
                        }
                    }
                }, "visitor-" + i);
                threads.add(t);
                t.start();
            }
        }

        int answered() {
            return exchanges.size();
        }

        void awaitAnswers(int n) {
            await().atMost(STARTUP).until(() -> exchanges.size() >= n || !failures.isEmpty());
        }

        void stop() throws InterruptedException {
            running = false;
            for (Thread t : threads) {
                t.join(STARTUP.toMillis());
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop();
        }
    }

    /** A wrapper for {@link #launchUnder}: the JVM started under {@code ulimit option} ({@code -n 400}). */
    private static List<String> ulimit(String option) {
        return List.of("sh", "-c", "ulimit " + option + " && exec \"$@\"", "sh");
    }

    private Path config(String text) throws IOException {
        Path file = dir.resolve("canary-proxy.conf");
        Files.writeString(file, text);
        return file;
    }

    private HttpResponse<String> get(String url) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String url) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Starts {@link Main} in a new JVM with this test's class path and the production logging configuration. */
    private Launched launch(String... args) throws IOException {
        return launchUnder(List.of(), args);
    }

    /** {@link #launch} under a wrapper command such as {@code nohup}. */
    private Launched launchUnder(List<String> wrapper, String... args) throws IOException {
        List<String> command = new ArrayList<>(wrapper);
        command.addAll(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                // Main turns the leak detector off unless asked: these runs ask for it, as every test run does.
                "-Dio.netty.leakDetection.level=paranoid",
                "-Dlogback.configurationFile=logback.xml",
                "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
        builder.environment().putAll(environment);
        Process process = builder.start();
        Launched l = new Launched(process);
        launched.add(l);
        return l;
    }

    private static final class Launched {
        final Process process;
        final List<String> stdout = new CopyOnWriteArrayList<>();
        final List<String> stderr = new CopyOnWriteArrayList<>();
        private final Thread outReader;
        private final Thread errReader;

        Launched(Process process) {
            this.process = process;
            this.outReader = reader(process.getInputStream(), stdout);
            this.errReader = reader(process.getErrorStream(), stderr);
        }

        private static Thread reader(java.io.InputStream in, List<String> lines) {
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        lines.add(line);
                    }
                } catch (IOException e) {
                    // process gone
                }
            });
            t.setDaemon(true);
            t.start();
            return t;
        }

        /**
         * Sends a signal as an operator would. ({@link Process#destroy()} sends SIGTERM too, but closes the streams
         * this test reads, so the last lines would be lost.)
         */
        void signal(String name) throws IOException, InterruptedException {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start();
            assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(kill.exitValue()).isZero();
        }

        /** Sends signal {@code name} and checks that the process exits with status 0 within a minute. */
        void stopsOn(String name) throws IOException, InterruptedException {
            signal(name);
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(process.exitValue()).isZero();
        }

        /** Whether the process ignores signal {@code number}, from the SigIgn mask in /proc/PID/status. */
        boolean ignores(int number) throws IOException {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
                if (line.startsWith("SigIgn:")) {
                    long mask = Long.parseUnsignedLong(line.substring("SigIgn:".length()).trim(), 16);
                    return (mask & (1L << (number - 1))) != 0;
                }
            }
            return false;
        }

        /** Waits until the process' output has been read completely. */
        void drained() throws InterruptedException {
            outReader.join(10_000);
            errReader.join(10_000);
        }

        Matcher awaitLine(String regex) throws InterruptedException {
            Pattern pattern = Pattern.compile(regex);
            long deadline = System.nanoTime() + STARTUP.toNanos();
            int seen = 0;
            while (System.nanoTime() < deadline) {
                List<String> lines = stdout;
                for (; seen < lines.size(); seen++) {
                    Matcher m = pattern.matcher(lines.get(seen));
                    if (m.find()) {
                        return m;
                    }
                }
                if (!process.isAlive() && !outReader.isAlive() && seen >= lines.size()) {
                    break;
                }
                Thread.sleep(20);
            }
            throw new AssertionError("no line matching " + regex + "\nstdout:\n" + String.join("\n", stdout)
                    + "\nstderr:\n" + String.join("\n", stderr));
        }
    }
}
