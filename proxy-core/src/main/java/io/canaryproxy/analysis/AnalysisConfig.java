package io.canaryproxy.analysis;

import com.typesafe.config.Config;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.RoutingConfig;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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
            boolean bare = (url.getRawPath() == null || url.getRawPath().isEmpty() || url.getRawPath().equals("/"))
                    && url.getRawQuery() == null;
            String where = url.getScheme() + "://" + url.getHost() + (url.getPort() < 0 ? "" : ":" + url.getPort())
                    + (bare ? "" : "/…");
            return "Webhook[name=" + name + ", url=" + where + ", events=" + events + ", timeout=" + timeout + "]";
        }
    }

    private static final List<String> EVENT_NAMES = List.of("pre-rollout", "step", "promoted", "rolled-back", "paused",
            "ended");
    private static final String EVENTS = "pre-rollout, step, promoted, rolled-back, paused or ended";

    /**
     * Reads {@code proxy.analysis} of an already bound configuration.
     *
     * @throws ConfigException naming the key, the value and what was expected, for the first bad value found
     */
    public static AnalysisConfig from(Config proxy) {
        Config c;
        try {
            c = proxy.getConfig("analysis");
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue("proxy.analysis", proxy.getValue("analysis"),
                    "an object such as { interval = 30s, steps = [1, 5, 10, 25, 50, 100] }");
        }
        String p = "proxy.analysis.";
        Duration interval = positive(c, p, "interval");
        List<Double> steps = new ArrayList<>();
        try {
            for (Number n : c.getDoubleList("steps")) {
                steps.add(n.doubleValue());
            }
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + "steps", c.getValue("steps").unwrapped(),
                    "a list of percentages such as [1, 5, 10, 25, 50, 100]");
        }
        double previous = 0;
        for (double s : steps) {
            if (!(s > previous && s <= 100)) {
                throw ConfigException.badValue(p + "steps", steps, "increasing percentages above 0, up to 100");
            }
            if (!RoutingConfig.inBasisPoints(s)) {
                throw ConfigException.badValue(p + "steps", steps,
                        "percentages with at most 2 decimals (the route table's resolution is 0.01 %)");
            }
            previous = s;
        }
        if (steps.isEmpty() || previous != 100) {
            throw ConfigException.badValue(p + "steps", steps, "a list that ends with 100");
        }
        long minRequests = atLeast(c, p, "min-requests", 1);
        int failureLimit = (int) atLeast(c, p, "failure-limit", 1);
        double confidence = number(c, p, "confidence") / 100;
        if (!(confidence >= 0.5 && confidence < 1)) {
            throw ConfigException.badValue(p + "confidence", c.getValue("confidence").unwrapped(),
                    "a percentage from 50 to below 100, such as 99");
        }
        double maxErrorRate = percent(c, p, "max-error-rate") / 100;
        double ratio = number(c, p, "max-latency-ratio");
        if (ratio < 1) {
            throw ConfigException.badValue(p + "max-latency-ratio", ratio, "a ratio of at least 1, such as 1.5");
        }
        Duration slack = nonNegative(c, p, "latency-slack");
        double minEffect = number(c, p, "min-effect-size");
        if (minEffect <= 0.5 || minEffect > 1) {
            throw ConfigException.badValue(p + "min-effect-size", minEffect, "a probability above 0.5 and up to 1");
        }
        long minP99 = atLeast(c, p, "min-p99-samples", 1);
        Duration warmup = nonNegative(c, p, "warmup");
        String onFailure = string(c, p + "on-failure", "on-failure", "rollback or pause");
        if (!onFailure.equals("rollback") && !onFailure.equals("pause")) {
            throw ConfigException.badValue(p + "on-failure", onFailure, "rollback or pause");
        }
        Duration cooldown = nonNegative(c, p, "cooldown");
        int history = (int) atLeast(c, p, "history", 1);
        List<? extends Config> entries;
        try {
            entries = c.getConfigList("webhooks");
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + "webhooks", c.getValue("webhooks"),
                    "a list of webhooks such as [{ url = \"https://example.com/hook\", events = [step] }]");
        }
        List<Webhook> hooks = new ArrayList<>();
        int i = 0;
        for (Config h : entries) {
            hooks.add(webhook(h, p + "webhooks[" + i++ + "]."));
        }
        return new AnalysisConfig(interval, List.copyOf(steps), minRequests, failureLimit, confidence, maxErrorRate,
                ratio, slack, minEffect, minP99, warmup, onFailure.equals("pause"), cooldown, history,
                List.copyOf(hooks));
    }

    private static Webhook webhook(Config h, String p) {
        String text = h.hasPath("url") ? string(h, p + "url", "url", "an http:// or https:// URL") : null;
        URI url;
        try {
            url = URI.create(text);
            if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme()) || url.getHost() == null) {
                throw new IllegalArgumentException();
            }
        } catch (RuntimeException e) {
            throw ConfigException.badValue(p + "url", text, "an http:// or https:// URL");
        }
        List<String> events;
        try {
            events = h.hasPath("events") ? h.getStringList("events") : List.of();
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + "events", h.getValue("events"), "a list of " + EVENTS);
        }
        for (String e : events) {
            if (!EVENT_NAMES.contains(e)) {
                throw ConfigException.badValue(p + "events", e, EVENTS);
            }
        }
        Duration timeout = h.hasPath("timeout") ? positive(h, p, "timeout") : Duration.ofSeconds(5);
        String name = h.hasPath("name") ? string(h, p + "name", "name", "a name for the log") : url.getHost();
        return new Webhook(name, url, events, timeout);
    }

    private static String string(Config c, String fullKey, String key, String expected) {
        try {
            return c.getString(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(fullKey, c.getValue(key), expected);
        }
    }

    private static Duration positive(Config c, String p, String key) {
        Duration d = duration(c, p, key);
        if (d.isZero() || d.isNegative()) {
            throw ConfigException.badValue(p + key, c.getValue(key).unwrapped(), "a positive duration such as 30s");
        }
        return d;
    }

    private static Duration nonNegative(Config c, String p, String key) {
        Duration d = duration(c, p, key);
        if (d.isNegative()) {
            throw ConfigException.badValue(p + key, c.getValue(key).unwrapped(), "a duration such as 30s, or 0");
        }
        return d;
    }

    private static Duration duration(Config c, String p, String key) {
        try {
            return c.getDuration(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + key, c.getValue(key).unwrapped(), "a duration such as 30s or 500ms");
        }
    }

    private static long atLeast(Config c, String p, String key, long min) {
        long v;
        try {
            v = c.getLong(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + key, c.getValue(key).unwrapped(), "a whole number");
        }
        if (v < min) {
            throw ConfigException.badValue(p + key, v, "a whole number of at least " + min);
        }
        return v;
    }

    private static double number(Config c, String p, String key) {
        try {
            return c.getDouble(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.badValue(p + key, c.getValue(key).unwrapped(), "a number");
        }
    }

    private static double percent(Config c, String p, String key) {
        double v = number(c, p, key);
        if (v < 0 || v > 100) {
            throw ConfigException.badValue(p + key, v, "a percentage from 0 to 100");
        }
        return v;
    }
}
