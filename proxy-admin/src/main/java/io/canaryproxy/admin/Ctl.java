package io.canaryproxy.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.listener.InFlightRequest;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code canary-proxy ctl}: a running proxy's admin API from the command line, for people and deploy scripts.
 *
 * <p>Exit status: 0 done; 1 the proxy refused (its reason on stderr, one line); 2 usage error; 3 the admin API
 * cannot be reached, or something else answers at its address.
 */
@Command(name = "ctl",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        usageHelpAutoWidth = true,
        description = "Talks to a running canary-proxy through its admin API.",
        subcommands = {Ctl.Status.class, Ctl.Switch.class, Ctl.Canary.class, Ctl.Start.class, Ctl.Pause.class,
            Ctl.Resume.class, Ctl.Promote.class, Ctl.Rollback.class, Ctl.Drain.class, Ctl.Reload.class},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
            "0:done",
            "1:the proxy refused (its reason is on stderr), or a drain did not finish in time",
            "2:usage error",
            "3:cannot reach the admin API"
        })
final class Ctl implements Callable<Integer> {

    /** The admin API's URL when {@code --admin} is not given. */
    static final String ENV_ADMIN_URL = "CANARY_PROXY_ADMIN_URL";
    /** The admin token when {@code --token} is not given. */
    static final String ENV_TOKEN = "CANARY_PROXY_TOKEN";
    /** The proxy's own token variable ({@code proxy.admin.token}), read when {@link #ENV_TOKEN} is not set. */
    static final String ENV_ADMIN_TOKEN = "CANARY_PROXY_ADMIN_TOKEN";
    static final String DEFAULT_ADMIN = "http://127.0.0.1:9901";

    static final int EXIT_OK = 0;
    static final int EXIT_REFUSED = 1;
    static final int EXIT_USAGE = 2;
    static final int EXIT_UNREACHABLE = 3;

    /** How much longer than the drain's own timeout {@code ctl drain} waits for the answer. */
    private static final Duration DRAIN_ANSWER_SLACK = Duration.ofSeconds(15);

    @Option(names = "--admin", paramLabel = "URL", scope = ScopeType.INHERIT,
            description = "The admin API, e.g. http://127.0.0.1:9901 (or just 127.0.0.1:9901)."
                    + " Default: $" + ENV_ADMIN_URL + ", else " + DEFAULT_ADMIN)
    String admin;

    @Option(names = "--token", paramLabel = "TOKEN", scope = ScopeType.INHERIT,
            description = "The admin token (proxy.admin.token). Default: $" + ENV_TOKEN + ", else $"
                    + ENV_ADMIN_TOKEN)
    String token;

    @Option(names = "--json", scope = ScopeType.INHERIT,
            description = "Print the proxy's JSON answer as it is, instead of a summary.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(),
                "missing command: status, switch, canary, start, pause, resume, promote, rollback, drain or reload");
    }

    /**
     * The admin API's root URL from {@code option}, else {@code env}'s {@link #ENV_ADMIN_URL}, else the default. A
     * bare {@code host:port} means {@code http://host:port}.
     *
     * @throws IllegalArgumentException saying where the bad value came from and what was expected
     */
    static URI adminUri(String option, Map<String, String> env) {
        String value = option;
        String origin = "--admin";
        if (value == null) {
            value = nonBlank(env.get(ENV_ADMIN_URL));
            origin = ENV_ADMIN_URL;
        }
        if (value == null) {
            value = DEFAULT_ADMIN;
            origin = "default";
        }
        String expected = origin + " \"" + value + "\": expected a URL such as " + DEFAULT_ADMIN;
        String text = value.strip();
        boolean bare = !text.contains("://");
        if (bare) {
            text = "http://" + text;
        }
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(expected);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase();
        if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null
                || uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException(expected);
        }
        if (uri.getPort() > 65535) {
            throw new IllegalArgumentException(origin + " \"" + value + "\": port must be between 0 and 65535");
        }
        if (bare && uri.getPort() < 0) {
            // A URL has its scheme's port; a bare host almost always means the admin port was forgotten.
            throw new IllegalArgumentException(origin + " \"" + value + "\": expected host:port such as "
                    + DEFAULT_ADMIN.substring(DEFAULT_ADMIN.indexOf("://") + 3) + ", or a URL");
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath().replaceAll("/+$", "");
        return URI.create(scheme + "://" + uri.getRawAuthority() + path);
    }

    /**
     * The token from {@code option}, else {@link #ENV_TOKEN}, else {@link #ENV_ADMIN_TOKEN}; {@code null} if none.
     *
     * @throws IllegalArgumentException for a token that cannot go into a header: a line break would add headers
     */
    static String token(String option, Map<String, String> env) {
        String origin = "--token";
        String token = nonBlank(option);
        if (option == null) {
            origin = ENV_TOKEN;
            token = nonBlank(env.get(ENV_TOKEN));
            if (token == null) {
                origin = ENV_ADMIN_TOKEN;
                token = nonBlank(env.get(ENV_ADMIN_TOKEN));
            }
        }
        if (token != null && !token.chars().allMatch(c -> c > ' ' && c < 0x7f)) {
            throw new IllegalArgumentException(origin + ": expected printable ASCII without spaces or line breaks");
        }
        return token;
    }

    private static String nonBlank(String value) {
        return value == null || value.isBlank() ? null : value.strip();
    }

    /** What every {@code ctl} command shares: the client, the output, and failures turned into exit statuses. */
    abstract static class Call implements Callable<Integer> {

        @ParentCommand
        Ctl ctl;

        @Spec
        CommandSpec spec;

        @Override
        public final Integer call() {
            CommandLine commandLine = spec.commandLine();
            URI base;
            try {
                base = adminUri(ctl.admin, System.getenv());
            } catch (IllegalArgumentException e) {
                throw new ParameterException(commandLine, e.getMessage());
            }
            String token;
            try {
                token = token(ctl.token, System.getenv());
            } catch (IllegalArgumentException e) {
                throw new ParameterException(commandLine, e.getMessage());
            }
            validate();
            AdminClient client = new AdminClient(base, token);
            PrintWriter out = commandLine.getOut();
            PrintWriter err = commandLine.getErr();
            try {
                run(client, out);
                return EXIT_OK;
            } catch (CtlException e) {
                err.println("canary-proxy: " + Main.oneLine(e.getMessage()));
                return e.exitStatus();
            } finally {
                out.flush();
                err.flush();
            }
        }

        /** Checks the arguments before anything is sent; a {@link ParameterException} is a usage error. */
        void validate() {
        }

        /** Does the work and prints the result; a refusal is a {@link CtlException}. */
        abstract void run(AdminClient client, PrintWriter out);

        /** The JSON of a 2xx answer, printed as it is with {@code --json}. */
        JsonNode expectOk(AdminClient.Answer answer, PrintWriter out) {
            printJson(answer, out);
            return AdminClient.expectOk(answer);
        }

        /** With {@code --json}: the answer's JSON on stdout, whatever the status. Returns whether it printed. */
        boolean printJson(AdminClient.Answer answer, PrintWriter out) {
            if (ctl.json && answer.json() != null) {
                out.println(answer.json().toPrettyString());
                return true;
            }
            return false;
        }

        ParameterException usage(String message) {
            return new ParameterException(spec.commandLine(), message);
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Shows the route table and each release's endpoints, health, connections and traffic.",
                "Also the automated analysis: its state, step and weight, its last outcome and its last checks."})
    static final class Status extends Call {

        @Override
        void run(AdminClient client, PrintWriter out) {
            AdminClient.Answer answer = client.get("/status", AdminClient.REQUEST_TIMEOUT);
            JsonNode status = expectOk(answer, out);
            if (ctl.json) {
                return;
            }
            out.print(StatusTable.render(status, requestCounts(client)));
        }

        /** Requests and 5xx answers per release from {@code /metrics}; {@code null} when it has none. */
        private static Map<String, long[]> requestCounts(AdminClient client) {
            List<PrometheusText.Sample> samples;
            try {
                AdminClient.Answer metrics = client.get("/metrics", AdminClient.REQUEST_TIMEOUT);
                if (metrics.status() != 200) {
                    return null;
                }
                samples = PrometheusText.parse(metrics.body());
            } catch (CtlException | IllegalArgumentException e) {
                return null;
            }
            if (!PrometheusText.has(samples, StatusTable.REQUESTS)) {
                return null;
            }
            Map<String, long[]> counts = new LinkedHashMap<>();
            for (PrometheusText.Sample s : samples) {
                String release = s.label("release");
                if (s.name().equals(StatusTable.REQUESTS) && release != null) {
                    long[] c = counts.computeIfAbsent(release, r -> new long[2]);
                    c[0] += (long) s.value();
                    if ("5xx".equals(s.label("status"))) {
                        c[1] += (long) s.value();
                    }
                }
            }
            return counts;
        }
    }

    @Command(name = "switch", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Makes RELEASE stable at 100%% at once, with no canary; the other releases drain.",
                "Refused when RELEASE has no healthy endpoint, unless --force."})
    static final class Switch extends Call {

        @Parameters(index = "0", paramLabel = "RELEASE", description = "e.g. green")
        String release;

        @Option(names = "--force", description = "Switch even if RELEASE has no healthy endpoint.")
        boolean force;

        @Override
        void run(AdminClient client, PrintWriter out) {
            JsonNode table = expectOk(client.post("/switch?release=" + AdminClient.encode(release)
                    + (force ? "&force=true" : "")), out);
            if (!ctl.json) {
                out.println("stable: " + table.path("stable").asText() + " at 100% (was "
                        + describe(table.path("previous").asText(), table.get("previousCanary")) + "); route table v"
                        + table.path("version").asText());
            }
        }
    }

    @Command(name = "canary", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Sends WEIGHT%% of users to RELEASE as canary; the stable release keeps the rest.",
                "Users keep their side as the weight grows. Refused when RELEASE has no healthy endpoint,"
                        + " unless --force."})
    static final class Canary extends Call {

        @Parameters(index = "0", paramLabel = "RELEASE", description = "e.g. green")
        String release;

        @Parameters(index = "1", paramLabel = "WEIGHT", description = "Percentage of users, 0 to 100, e.g. 10 or"
                + " 12.5 (0.01 resolution).")
        String weight;

        @Option(names = "--force", description = "Set the canary even if RELEASE has no healthy endpoint.")
        boolean force;

        @Override
        void validate() {
            try {
                Weights.basisPoints(weight);
            } catch (IllegalArgumentException e) {
                throw usage("WEIGHT \"" + weight + "\": " + e.getMessage());
            }
        }

        @Override
        void run(AdminClient client, PrintWriter out) {
            JsonNode table = expectOk(client.post("/canary?release=" + AdminClient.encode(release) + "&weight="
                    + AdminClient.encode(weight) + (force ? "&force=true" : "")), out);
            if (!ctl.json) {
                out.println("canary: " + table.path("canary").asText() + " at " + table.path("weight").asText()
                        + "% of users, stable " + table.path("stable").asText() + "; route table v"
                        + table.path("version").asText());
            }
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Starts the automated canary analysis of RELEASE: it becomes canary at the first of"
                    + " proxy.analysis.steps, is judged against the stable release every interval, and is promoted"
                    + " after the last step or rolled back after failure-limit failed checks in a row.",
                "Refused when an analysis is going on, a pre-rollout webhook says no, or (unless --force) RELEASE"
                        + " has no healthy endpoint or was rolled back within the cooldown."})
    static final class Start extends Call {

        @Parameters(index = "0", paramLabel = "RELEASE", description = "e.g. green")
        String release;

        @Option(names = "--force", description = "Start even if RELEASE has no healthy endpoint or was rolled back"
                + " within the cooldown.")
        boolean force;

        @Override
        void run(AdminClient client, PrintWriter out) {
            JsonNode analysis = expectOk(client.post("/canary/start?release=" + AdminClient.encode(release)
                    + (force ? "&force=true" : "")), out);
            if (!ctl.json) {
                out.println("analysis " + StatusTable.analysis(analysis) + "; follow it with canary-proxy ctl status");
            }
        }
    }

    @Command(name = "pause", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = "Holds the automated analysis at its current weight until resumed; it judges nothing"
                    + " meanwhile.")
    static final class Pause extends AnalysisCall {

        Pause() {
            super("/canary/pause");
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = "Resumes a paused automated analysis at its step, with a fresh interval.")
    static final class Resume extends AnalysisCall {

        Resume() {
            super("/canary/resume");
        }
    }

    /** A POST that takes no argument and answers the analysis, printed as {@code analysis ...}. */
    abstract static class AnalysisCall extends Call {

        private final String path;

        AnalysisCall(String path) {
            this.path = path;
        }

        @Override
        final void run(AdminClient client, PrintWriter out) {
            JsonNode analysis = expectOk(client.post(path), out);
            if (!ctl.json) {
                out.println("analysis " + StatusTable.analysis(analysis));
            }
        }
    }

    @Command(name = "promote", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = "Ends the canary: it becomes stable at 100%%; the old stable release drains.")
    static final class Promote extends Call {

        @Override
        void run(AdminClient client, PrintWriter out) {
            JsonNode table = expectOk(client.post("/promote"), out);
            if (!ctl.json) {
                String old = table.path("previous").asText();
                out.println("promoted " + table.path("stable").asText() + ": stable at 100%; " + old
                        + " drains (canary-proxy ctl drain " + old + "); route table v"
                        + table.path("version").asText());
            }
        }
    }

    @Command(name = "rollback", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = "Ends the canary: it gets no more users; the stable release keeps 100%%.")
    static final class Rollback extends Call {

        @Override
        void run(AdminClient client, PrintWriter out) {
            JsonNode table = expectOk(client.post("/rollback"), out);
            if (!ctl.json) {
                String canary = table.path("previousCanary").asText();
                out.println("rolled back " + canary + ": " + table.path("stable").asText() + " stable at 100%; "
                        + canary + " drains (canary-proxy ctl drain " + canary + "); route table v"
                        + table.path("version").asText());
            }
        }
    }

    @Command(name = "drain", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Waits until RELEASE has no request in flight and no connection open, so that its"
                    + " processes can be stopped.", "Refused while RELEASE is the stable release or the canary."
                    + " Exit status 1 when it is not drained within the timeout."})
    static final class Drain extends Call {

        @Parameters(index = "0", paramLabel = "RELEASE", description = "e.g. blue")
        String release;

        @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s",
                description = "How long to wait, e.g. 30s, 500ms, 2m. Default: ${DEFAULT-VALUE}")
        String timeout;

        private Duration wait;

        @Override
        void validate() {
            try {
                wait = Durations.parse(timeout);
            } catch (IllegalArgumentException e) {
                throw usage("--timeout \"" + timeout + "\": expected " + Durations.EXPECTED);
            }
            if (wait.compareTo(AdminHandler.MAX_DRAIN_TIMEOUT) > 0) {
                throw usage("--timeout \"" + timeout + "\": at most " + Durations.format(AdminHandler.MAX_DRAIN_TIMEOUT));
            }
        }

        @Override
        void run(AdminClient client, PrintWriter out) {
            AdminClient.Answer answer = client.get("/drain?release=" + AdminClient.encode(release) + "&timeout="
                    + AdminClient.encode(Durations.format(wait)), wait.plus(DRAIN_ANSWER_SLACK));
            boolean printed = printJson(answer, out);
            JsonNode body = answer.json();
            if (answer.status() == 503 && body != null && body.path("routed").asBoolean()) {
                throw new CtlException(EXIT_REFUSED, "release " + release + " is not drained: it was made stable or"
                        + " canary again while the drain waited");
            }
            if (answer.status() == 503 && body != null && body.has("drained")) {
                StringBuilder why = new StringBuilder("release " + release + " is not drained after "
                        + Durations.format(wait) + ": " + count(body.path("inflight").asLong(), "request")
                        + " in flight, " + count(body.path("connections").asLong(), "connection") + " open ("
                        + body.path("upgraded").asLong() + " upgraded)");
                String separator = ": "; // the requests still under way, oldest first
                for (JsonNode r : body.path("requests")) {
                    why.append(separator).append(AdminHandler.describeRequest(r.path("method").asText(),
                            r.path("path").asText(), r.path("client").asText(), r.path("ageMs").asLong(),
                            InFlightRequest.stageText(r.path("stage").asText(), r.path("status").asInt(),
                                    r.path("staticFile").asBoolean())));
                    separator = "; ";
                }
                throw new CtlException(EXIT_REFUSED, why.toString());
            }
            AdminClient.expectOk(answer);
            if (!printed) {
                out.println("release " + release + " is drained");
            }
        }
    }

    @Command(name = "reload", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Makes the proxy re-read its config file (as SIGHUP does).",
                "A file with a problem is refused as a whole; the running configuration stays."})
    static final class Reload extends Call {

        @Override
        void run(AdminClient client, PrintWriter out) {
            AdminClient.Answer answer = client.post("/reload");
            boolean printed = printJson(answer, out);
            JsonNode body = answer.json();
            if (answer.status() == 400 && body != null && body.path("reloaded").isBoolean()) {
                throw new CtlException(EXIT_REFUSED, "reload refused, the running configuration stays: "
                        + body.path("error").asText());
            }
            AdminClient.expectOk(answer);
            if (printed) {
                return;
            }
            List<String> changes = new ArrayList<>();
            body.path("changes").forEach(c -> changes.add(c.asText()));
            String file = body.hasNonNull("file") ? " " + body.get("file").asText() : "";
            out.println("reloaded" + file + ": " + (changes.isEmpty() ? "nothing changed"
                    : count(changes.size(), "change")));
            changes.forEach(c -> out.println("  " + c));
            body.path("warnings").forEach(w -> out.println("warning: " + w.asText()));
        }
    }

    /** {@code blue}, or {@code blue + canary green} when there was a canary. */
    private static String describe(String stable, JsonNode canary) {
        return canary == null || canary.isNull() ? stable : stable + " + canary " + canary.asText();
    }

    static String count(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /** The table {@code ctl status} prints. */
    static final class StatusTable {

        /** The request counter as {@code /metrics} exports it. */
        static final String REQUESTS = "canary_proxy_requests_total";
        /** How many of the analysis' checks, the newest, the table shows. */
        static final int CHECKS_SHOWN = 5;

        private StatusTable() {
        }

        /**
         * @param requests release to {requests, 5xx answers}, or {@code null} to leave those columns out
         */
        static String render(JsonNode status, Map<String, long[]> requests) {
            StringBuilder sb = new StringBuilder();
            String stable = status.path("stable").asText();
            JsonNode canaryNode = status.get("canary");
            String canary = canaryNode == null || canaryNode.isNull() ? null : canaryNode.asText();
            String weight = status.path("weight").asText("0");
            List<List<String>> head = new ArrayList<>();
            head.add(List.of("stable", stable));
            head.add(List.of("canary", canary == null ? "none" : canary + " at " + weight + "%"));
            head.add(List.of("version", status.path("version").asText()
                    + (status.hasNonNull("changedAt") ? " (changed " + status.get("changedAt").asText() + ")" : "")));
            JsonNode analysis = status.get("analysis");
            if (analysis != null && analysis.isObject()) {
                head.add(List.of("analysis", analysis(analysis)));
                if (analysis.hasNonNull("lastOutcome")) {
                    head.add(List.of("outcome", analysis.get("lastOutcome").asText()
                            + (analysis.hasNonNull("release") ? " (" + analysis.get("release").asText() + ")" : "")));
                }
            }
            sb.append(table(null, head, Set.of()));

            List<String> header = new ArrayList<>(List.of("RELEASE", "ROUTE", "IN-FLIGHT", "CONNECTIONS",
                    "UPGRADED", "DRAINED"));
            if (requests != null) {
                header.add("REQUESTS");
                header.add("5XX");
            }
            List<List<String>> releases = new ArrayList<>();
            List<List<String>> endpoints = new ArrayList<>();
            boolean anyProblem = false;
            for (Map.Entry<String, JsonNode> e : status.path("releases").properties()) {
                String name = e.getKey();
                JsonNode r = e.getValue();
                String route = name.equals(stable) ? "stable " + stableShare(canary, weight) + "%"
                        : name.equals(canary) ? "canary " + weight + "%" : "-";
                List<String> row = new ArrayList<>(List.of(name, route, r.path("inflight").asText(),
                        r.path("connections").asText(), r.path("upgraded").asText(),
                        r.path("drained").asBoolean() ? "yes" : "no"));
                if (requests != null) {
                    long[] c = requests.getOrDefault(name, new long[2]);
                    row.add(Long.toString(c[0]));
                    row.add(Long.toString(c[1]));
                }
                releases.add(row);
                for (JsonNode endpoint : r.path("endpoints")) {
                    // A removed endpoint's health is no longer checked: what matters is its connections.
                    boolean removed = endpoint.path("removed").asBoolean();
                    String health = removed ? "removed"
                            : endpoint.path("healthy").asBoolean() ? "healthy" : "UNHEALTHY";
                    String problem = removed ? "" : endpoint.path("problem").asText("");
                    endpoints.add(List.of(name, endpoint.path("address").asText(), health,
                            endpoint.path("connections").asText(), problem));
                    anyProblem |= !problem.isEmpty();
                }
            }
            sb.append('\n').append(table(header, releases, Set.of(2, 3, 4, 6, 7)));
            List<String> endpointHeader = anyProblem ? List.of("RELEASE", "ENDPOINT", "HEALTH", "CONNECTIONS", "WHY")
                    : List.of("RELEASE", "ENDPOINT", "HEALTH", "CONNECTIONS");
            sb.append('\n').append(table(endpointHeader, endpoints, Set.of(3)));
            if (analysis != null && analysis.path("history").size() > 0) {
                sb.append('\n').append(checks(analysis.path("history")));
            }
            return sb.toString();
        }

        /** {@code idle}, or {@code running: green at 10% (step 0)}. */
        static String analysis(JsonNode analysis) {
            String state = analysis.path("state").asText("?");
            if (state.equals("idle")) {
                return state;
            }
            return state + ": " + analysis.path("release").asText() + " at " + percent(analysis.path("weight"))
                    + " (step " + analysis.path("step").asText() + ")";
        }

        /** The newest {@link #CHECKS_SHOWN} checks, oldest first, each with its verdict, figures and reason. */
        private static String checks(JsonNode history) {
            List<List<String>> rows = new ArrayList<>();
            int first = Math.max(0, history.size() - CHECKS_SHOWN);
            for (int i = first; i < history.size(); i++) {
                JsonNode check = history.get(i);
                rows.add(List.of(time(check.path("at").asText()), check.path("step").asText(),
                        percent(check.path("weight")), verdict(check.path("verdict").asText()),
                        figures(check.path("canary")), figures(check.path("stable")), check.path("reason").asText()));
            }
            String table = table(List.of("CHECKED", "STEP", "WEIGHT", "VERDICT", "CANARY REQ/ERR", "STABLE REQ/ERR",
                    "REASON"), rows, Set.of(1, 2, 4, 5));
            if (first > 0) {
                table += "(" + count(first, "earlier check") + ": canary-proxy ctl status --json)\n";
            }
            return table;
        }

        /** {@code pass}, {@code hold}, and {@code FAIL} in capitals, as {@code UNHEALTHY} is. */
        private static String verdict(String verdict) {
            return verdict.equals("fail") ? "FAIL" : verdict;
        }

        private static String figures(JsonNode release) {
            return release.path("requests").asText("0") + "/" + release.path("errors").asText("0");
        }

        /** {@code 2024-05-01T12:00:03Z}: to the second. */
        private static String time(String instant) {
            try {
                return Instant.parse(instant).truncatedTo(ChronoUnit.SECONDS).toString();
            } catch (DateTimeParseException e) {
                return instant;
            }
        }

        /** {@code 10%} for 10, 10.0 or "10"; {@code 12.5%}. */
        private static String percent(JsonNode weight) {
            try {
                return new BigDecimal(weight.asText()).stripTrailingZeros().toPlainString() + "%";
            } catch (NumberFormatException e) {
                return weight.asText() + "%";
            }
        }

        /** 100 minus the canary's weight: {@code 87.5} for a canary at 12.5 %. */
        private static String stableShare(String canary, String weight) {
            if (canary == null) {
                return "100";
            }
            try {
                return BigDecimal.valueOf(100).subtract(new BigDecimal(weight)).stripTrailingZeros().toPlainString();
            } catch (NumberFormatException e) {
                return "?";
            }
        }

        /** Columns separated by two spaces; the columns in {@code right} aligned right. */
        static String table(List<String> header, List<List<String>> rows, Set<Integer> right) {
            List<List<String>> all = new ArrayList<>();
            if (header != null) {
                all.add(header);
            }
            all.addAll(rows);
            int columns = all.stream().mapToInt(List::size).max().orElse(0);
            int[] width = new int[columns];
            for (List<String> row : all) {
                for (int c = 0; c < row.size(); c++) {
                    width[c] = Math.max(width[c], row.get(c).length());
                }
            }
            StringBuilder sb = new StringBuilder();
            for (List<String> row : all) {
                StringBuilder line = new StringBuilder();
                for (int c = 0; c < row.size(); c++) {
                    if (c > 0) {
                        line.append("  ");
                    }
                    String cell = row.get(c);
                    String pad = " ".repeat(width[c] - cell.length());
                    line.append(right.contains(c) ? pad + cell : cell + pad);
                }
                sb.append(line.toString().stripTrailing()).append('\n');
            }
            return sb.toString();
        }
    }
}
