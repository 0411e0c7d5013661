package io.canaryproxy.analysis;

import java.time.Instant;

/**
 * One judgement of the canary against the stable release over the same window, with every figure behind it, so
 * that a decision can be explained after the fact.
 *
 * @param errorP  one-sided Fisher p-value of "the canary's error rate is higher"
 * @param latencyP one-sided Mann–Whitney p-value of "the canary is slower"
 * @param effect  probability that a canary request is slower than a stable one (0.5 = no difference)
 */
public record Check(
        Instant at,
        int step,
        double weight,
        Verdict verdict,
        String reason,
        Figures canary,
        Figures stable,
        double errorP,
        double latencyP,
        double effect) {

    /** pass: the step may advance; hold: too little data, the step is extended; fail: the canary is worse. */
    public enum Verdict { PASS, HOLD, FAIL }

    /** What one release did in the window. */
    public record Figures(String release, long requests, long errors, double errorRate, double p50Millis,
                          double p99Millis) {
    }

    /** The check as plain values (strings, numbers, maps), for JSON: /status and webhooks. */
    public java.util.Map<String, Object> toMap() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("at", at.toString());
        m.put("step", step);
        m.put("weight", weight);
        m.put("verdict", verdict.name().toLowerCase(java.util.Locale.ROOT));
        m.put("reason", reason);
        m.put("canary", figures(canary));
        m.put("stable", figures(stable));
        m.put("errorP", finite(errorP));
        m.put("latencyP", finite(latencyP));
        m.put("effectSize", finite(effect));
        return m;
    }

    private static java.util.Map<String, Object> figures(Figures f) {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("release", f.release());
        m.put("requests", f.requests());
        m.put("errors", f.errors());
        m.put("errorRate", f.errorRate());
        m.put("p50Ms", f.p50Millis());
        m.put("p99Ms", f.p99Millis());
        return m;
    }

    private static Double finite(double d) {
        return Double.isFinite(d) ? d : null;
    }

    /** The line logged for this check. */
    public String logLine() {
        return String.format(java.util.Locale.ROOT,
                "step %d (%.2f%%): %s - %s; canary %s %d req, %d err (%.2f%%), p50 %.1f ms, p99 %.1f ms; "
                        + "stable %s %d req, %d err (%.2f%%), p50 %.1f ms, p99 %.1f ms; "
                        + "errors p=%.4f, latency p=%.4f, effect %.2f",
                step, weight, verdict.name().toLowerCase(java.util.Locale.ROOT), reason,
                canary.release(), canary.requests(), canary.errors(), canary.errorRate() * 100, canary.p50Millis(),
                canary.p99Millis(),
                stable.release(), stable.requests(), stable.errors(), stable.errorRate() * 100, stable.p50Millis(),
                stable.p99Millis(), errorP, latencyP, effect);
    }
}
