package io.canaryproxy.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValue;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoublePredicate;
import java.util.function.Predicate;

/**
 * {@code proxy.analysis}: how an automated canary run steps and judges.
 *
 * @param steps          canary weights in percent, increasing, the last one 100
 * @param confidence     of the error-rate test, e.g. 0.99
 * @param maxErrorRate   absolute floor: a canary error rate at or below it never fails
 * @param minEffect      Mann–Whitney effect size (probability canary slower) that counts as meaningful
 * @param minP99Samples  requests per side below which p99 is too noisy to judge
 */
public record AnalysisConfig(
        Duration interval,
        List<Double> steps,
        long minRequests,
        int failureLimit,
        double confidence,
        double maxErrorRate,
        double maxLatencyRatio,
        Duration latencySlack,
        double minEffect,
        long minP99Samples,
        Duration warmup,
        boolean pauseOnFailure,
        Duration cooldown,
        int history,
        List<Webhook> webhooks) {

    /** Where events are posted; {@code events} empty means all. */
    public record Webhook(String name, URI url, List<String> events, Duration timeout) {

        /**
         * Shows the URL without its path and query: chat webhooks carry their secret there, and this text goes
         * into the log of a reload.
         */
        @Override
        public String toString() {
            return "Webhook[name=" + name + ", url=" + shownUrl() + ", events=" + events + ", timeout=" + timeout + "]";
        }

        /** The URL without its path and query, which may hold a secret: {@code https://hooks.example.com/…}. */
        public String shownUrl() {
            boolean bare = (url.getRawPath() == null || url.getRawPath().isEmpty() || url.getRawPath().equals("/"))
                    && url.getRawQuery() == null;
            return url.getScheme() + "://" + url.getHost() + (url.getPort() < 0 ? "" : ":" + url.getPort())
                    + (bare ? "" : "/…");
        }
    }

    private static final Duration MAX_WEBHOOK_TIMEOUT = Duration.ofSeconds(25);
    private static final List<String> EVENT_NAMES = List.of("pre-rollout", "step", "promoted", "rolled-back", "paused",
            "ended");
    private static final String EVENTS = "pre-rollout, step, promoted, rolled-back, paused or ended";

    /**
     * Reads {@code proxy.analysis} of an already bound configuration.
     *
     * @throws ConfigException naming, for every bad value, the key, the value, what was expected and where it was
     *                         set (file and line)
     */
    public static AnalysisConfig from(Config proxy) {
        List<String> problems = new ArrayList<>();
        AnalysisConfig config = read(proxy, problems);
        if (!problems.isEmpty()) {
            throw ConfigException.of(problems);
        }
        return config;
    }

    /**
     * Reads {@code proxy.analysis}, adding a line to {@code problems} for every bad value, so that they are listed
     * with those of the other sections.
     *
     * @return the settings, or {@code null} when there was a problem
     */
    static AnalysisConfig read(Config proxy, List<String> problems) {
        Config c;
        try {
            c = proxy.getConfig("analysis");
        } catch (com.typesafe.config.ConfigException e) {
            ConfigValue value = proxy.root().get("analysis");
            problems.add(ConfigException.badValue("proxy.analysis", value,
                    "an object such as { interval = 30s, steps = [1, 5, 10, 25, 50, 100] }").getMessage()
                    + (value == null ? "" : ConfigException.where(value)));
            return null;
        }
        int before = problems.size();
        Reader r = new Reader(c, "proxy.analysis.", problems);
        Duration interval = r.positive("interval");
        List<Double> steps = r.steps();
        long minRequests = r.atLeast("min-requests", 1);
        int failureLimit = (int) r.atLeast("failure-limit", 1);
        double confidence = r.number("confidence", v -> v >= 50 && v < 100,
                "a percentage from 50 to below 100, such as 99") / 100;
        double maxErrorRate = r.number("max-error-rate", v -> v >= 0 && v <= 100, "a percentage from 0 to 100") / 100;
        double ratio = r.number("max-latency-ratio", v -> v >= 1, "a ratio of at least 1, such as 1.5");
        Duration slack = r.nonNegative("latency-slack");
        double minEffect = r.number("min-effect-size", v -> v > 0.5 && v <= 1, "a probability above 0.5 and up to 1");
        long minP99 = r.atLeast("min-p99-samples", 1);
        Duration warmup = r.nonNegative("warmup");
        String onFailure = r.string("on-failure", v -> v.equals("rollback") || v.equals("pause"), "rollback or pause");
        Duration cooldown = r.nonNegative("cooldown");
        int history = (int) r.atLeast("history", 1);
        List<Webhook> hooks = new ArrayList<>();
        List<? extends Config> entries = r.webhooks();
        for (int i = 0; i < entries.size(); i++) {
            Webhook hook = webhook(new Reader(entries.get(i), "proxy.analysis.webhooks[" + i + "].", r.problems));
            if (hook != null) {
                hooks.add(hook);
            }
        }
        if (problems.size() > before) {
            return null;
        }
        return new AnalysisConfig(interval, List.copyOf(steps), minRequests, failureLimit, confidence, maxErrorRate,
                ratio, slack, minEffect, minP99, warmup, "pause".equals(onFailure), cooldown, history,
                List.copyOf(hooks));
    }

    /** A webhook, or {@code null} when it has a problem (recorded in {@code r}). */
    private static Webhook webhook(Reader r) {
        int before = r.problems.size();
        URI url = r.url("url");
        List<String> events = r.events("events");
        Duration timeout = r.c.hasPath("timeout") ? r.positive("timeout") : Duration.ofSeconds(5);
        if (timeout != null && timeout.compareTo(MAX_WEBHOOK_TIMEOUT) > 0) {
            // A pre-rollout hook holds up the answer to /canary/start, and a client gives up at some point: ctl
            // after 30 s, and would then report the proxy unreachable.
            r.bad("timeout", r.raw("timeout"), "a duration of at most 25s, since the answer to /canary/start waits"
                    + " for a pre-rollout hook");
        }
        String name = r.c.hasPath("name") ? r.string("name", v -> true, "a name for the log")
                : url == null ? null : url.getHost();
        return r.problems.size() > before ? null : new Webhook(name, url, events, timeout);
    }

    /**
     * Reads the values of one object, recording a problem for each bad one instead of stopping at the first, so
     * that an operator sees every mistake of a config file in one go. What a bad value returns stands in for it
     * only until the problems are thrown.
     */
    private static final class Reader {

        final Config c;
        final String prefix;
        final List<String> problems;

        Reader(Config c, String prefix, List<String> problems) {
            this.c = c;
            this.prefix = prefix;
            this.problems = problems;
        }

        /** Records that {@code key} holds {@code shown} where {@code expected} was: with the file and line. */
        void bad(String key, Object shown, String expected) {
            problems.add(ConfigException.badValue(prefix + key, shown, expected).getMessage()
                    + (c.hasPath(key) ? ConfigException.where(c.getValue(key)) : ""));
        }

        private Object raw(String key) {
            return c.hasPath(key) ? c.getValue(key).unwrapped() : null;
        }

        /**
         * A duration with its unit. Typesafe Config reads a bare number as milliseconds, so {@code interval = 30}
         * would judge a canary every 30 ms: refused, as everywhere else in the file (0 needs no unit).
         */
        Duration duration(String key) {
            if (c.hasPath(key) && BareNumbers.isNonZeroWithoutUnit(c.getValue(key))) {
                bad(key, raw(key), "a duration with its unit, such as 30s or 500ms");
                return null;
            }
            Duration d = c.hasPath(key) ? Durations.of(c.getValue(key)) : null;
            if (d == null) {
                bad(key, raw(key), "a duration such as 30s or 500ms");
                return null;
            }
            if (d.compareTo(ConfigBinder.SATURATED) >= 0) {
                bad(key, raw(key), "a duration such as 30s, " + ConfigBinder.AT_MOST);
                return null;
            }
            return d;
        }

        Duration positive(String key) {
            Duration d = duration(key);
            if (d != null && (d.isZero() || d.isNegative())) {
                bad(key, raw(key), "a positive duration such as 30s");
            }
            return d;
        }

        Duration nonNegative(String key) {
            Duration d = duration(key);
            if (d != null && d.isNegative()) {
                bad(key, raw(key), "a duration such as 30s, or 0");
            }
            return d;
        }

        long atLeast(String key, long min) {
            long v;
            try {
                v = c.getLong(key);
            } catch (com.typesafe.config.ConfigException e) {
                bad(key, raw(key), "a whole number");
                return min;
            }
            if (v < min) {
                bad(key, raw(key), "a whole number of at least " + min);
            }
            return v;
        }

        double number(String key, DoublePredicate valid, String expected) {
            double v;
            try {
                v = c.getDouble(key);
            } catch (com.typesafe.config.ConfigException e) {
                bad(key, raw(key), "a number");
                return Double.NaN;
            }
            if (!valid.test(v)) {
                bad(key, raw(key), expected);
            }
            return v;
        }

        String string(String key, Predicate<String> valid, String expected) {
            String v;
            try {
                v = c.getString(key);
            } catch (com.typesafe.config.ConfigException e) {
                bad(key, c.hasPath(key) ? c.getValue(key) : null, expected);
                return null;
            }
            if (!valid.test(v)) {
                bad(key, v, expected);
            }
            return v;
        }

        List<Double> steps() {
            List<Double> steps = new ArrayList<>();
            try {
                for (Number n : c.getDoubleList("steps")) {
                    steps.add(n.doubleValue());
                }
            } catch (com.typesafe.config.ConfigException e) {
                bad("steps", raw("steps"), "a list of percentages such as [1, 5, 10, 25, 50, 100]");
                return steps;
            }
            double previous = 0;
            for (double s : steps) {
                if (!(s > previous && s <= 100)) {
                    bad("steps", raw("steps"), "increasing percentages above 0, up to 100");
                    return steps;
                }
                if (!RoutingConfig.inBasisPoints(s)) {
                    bad("steps", raw("steps"),
                            "percentages with at most 2 decimals (the route table's resolution is 0.01 %)");
                    return steps;
                }
                previous = s;
            }
            if (steps.isEmpty() || previous != 100) {
                bad("steps", raw("steps"), "a list that ends with 100");
            }
            return steps;
        }

        List<? extends Config> webhooks() {
            try {
                return c.getConfigList("webhooks");
            } catch (com.typesafe.config.ConfigException e) {
                bad("webhooks", c.hasPath("webhooks") ? c.getValue("webhooks") : null,
                        "a list of webhooks such as [{ url = \"https://example.com/hook\", events = [step] }]");
                return List.of();
            }
        }

        URI url(String key) {
            String text = c.hasPath(key) ? string(key, v -> true, "an http:// or https:// URL") : null;
            if (text == null && c.hasPath(key)) {
                return null; // not a string: recorded
            }
            try {
                URI url = URI.create(text);
                if (("http".equals(url.getScheme()) || "https".equals(url.getScheme())) && url.getHost() != null) {
                    return url;
                }
            } catch (RuntimeException e) {
                // recorded below
            }
            bad(key, text, "an http:// or https:// URL");
            return null;
        }

        List<String> events(String key) {
            if (!c.hasPath(key)) {
                return List.of();
            }
            List<String> events;
            try {
                events = c.getStringList(key);
            } catch (com.typesafe.config.ConfigException e) {
                bad(key, c.getValue(key), "a list of " + EVENTS);
                return List.of();
            }
            for (String e : events) {
                if (!EVENT_NAMES.contains(e)) {
                    bad(key, e, EVENTS);
                }
            }
            return events;
        }
    }
}
