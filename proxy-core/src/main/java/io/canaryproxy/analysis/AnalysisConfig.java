package io.canaryproxy.analysis;

import com.typesafe.config.Config;
import io.canaryproxy.config.ConfigException;
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
    }

    public static AnalysisConfig from(Config proxy) {
        Config c = proxy.getConfig("analysis");
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
            previous = s;
        }
        if (steps.isEmpty() || previous != 100) {
            throw ConfigException.badValue(p + "steps", steps, "a list that ends with 100");
        }
        long minRequests = atLeast(c, p, "min-requests", 1);
        int failureLimit = (int) atLeast(c, p, "failure-limit", 1);
        double confidence = percent(c, p, "confidence") / 100;
        if (confidence < 0.5 || confidence >= 1) {
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
        String onFailure = c.getString("on-failure");
        if (!onFailure.equals("rollback") && !onFailure.equals("pause")) {
            throw ConfigException.badValue(p + "on-failure", onFailure, "rollback or pause");
        }
        Duration cooldown = nonNegative(c, p, "cooldown");
        int history = (int) atLeast(c, p, "history", 1);
        List<Webhook> hooks = new ArrayList<>();
        int i = 0;
        for (Config h : c.getConfigList("webhooks")) {
            String key = p + "webhooks[" + i++ + "]";
            URI url;
            try {
                url = URI.create(h.getString("url"));
                if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme())) {
                    throw new IllegalArgumentException();
                }
            } catch (RuntimeException e) {
                throw ConfigException.badValue(key + ".url", h.hasPath("url") ? h.getString("url") : null,
                        "an http:// or https:// URL");
            }
            List<String> events = h.hasPath("events") ? h.getStringList("events") : List.of();
            for (String e : events) {
                if (!List.of("pre-rollout", "step", "promoted", "rolled-back", "paused").contains(e)) {
                    throw ConfigException.badValue(key + ".events", e,
                            "pre-rollout, step, promoted, rolled-back or paused");
                }
            }
            Duration timeout = h.hasPath("timeout") ? h.getDuration("timeout") : Duration.ofSeconds(5);
            hooks.add(new Webhook(h.hasPath("name") ? h.getString("name") : url.getHost(), url, events, timeout));
        }
        return new AnalysisConfig(interval, List.copyOf(steps), minRequests, failureLimit, confidence, maxErrorRate,
                ratio, slack, minEffect, minP99, warmup, onFailure.equals("pause"), cooldown, history,
                List.copyOf(hooks));
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
