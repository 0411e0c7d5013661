package io.canaryproxy.analysis;

import io.canaryproxy.analysis.Check.Figures;
import io.canaryproxy.analysis.Check.Verdict;
import io.canaryproxy.config.AnalysisConfig;
import java.time.Instant;
import java.util.Locale;

/**
 * Compares a canary with the stable release over the same window.
 *
 * <ul>
 *   <li>Fewer than {@code min-requests} canary requests: hold. Little data is never a pass and never a fail, so an
 *       idle service is not rolled back for "no data", and three requests with one error do not decide
 *       anything.</li>
 *   <li>Errors: fail when Fisher's exact test finds the canary's rate higher than stable's at the configured
 *       confidence and the rate is above the absolute floor {@code max-error-rate}. Both are needed: significance
 *       alone fails a canary for 0.3 % against 0.1 % on big traffic; a threshold alone fails it for noise. When
 *       the stable release had fewer than {@code min-requests} requests (the last steps), a binomial test against
 *       the floor takes the place of the comparison.</li>
 *   <li>Latency: fail when the canary's p50 (or p99, given enough samples for it to mean something) exceeds
 *       stable's by more than {@code max-latency-ratio} and by more than {@code latency-slack}, or when the
 *       Mann–Whitney U test finds it slower at the configured confidence with an effect of at least
 *       {@code min-effect-size} and a p50 difference beyond the slack. At the last steps, where stable has too
 *       little traffic, the canary's p50 is compared with stable's in the last window that had enough: a canary
 *       that is fast at 10 % and cannot carry 100 % is slow where it matters most. The p99 and the rank test need
 *       the same window: the tail moves with the moment and the share of users.</li>
 * </ul>
 */
public final class Judge {

    private final AnalysisConfig config;

    public Judge(AnalysisConfig config) {
        this.config = config;
    }

    public Check judge(Sample canary, Sample stable, int step, double weight) {
        return judge(canary, stable, null, step, weight);
    }

    /**
     * @param earlierStable the stable release's last window with at least {@code min-requests} requests, or
     *                      {@code null}: what the canary's latency is compared with when {@code stable} has fewer
     */
    public Check judge(Sample canary, Sample stable, Sample earlierStable, int step, double weight) {
        Figures c = figures(canary);
        Figures s = figures(stable);
        double alpha = 1 - config.confidence();
        if (canary.requests() < config.minRequests()) {
            return new Check(Instant.now(), step, weight, Verdict.HOLD, holdReason(canary, stable, weight),
                    c, s, Double.NaN, Double.NaN, Double.NaN);
        }
        // At the last steps the stable release gets almost no traffic; with too little of it to compare against,
        // the canary is held to the absolute floor instead: errors significantly above max-error-rate fail.
        boolean stableKnown = stable.requests() >= config.minRequests();
        double errorP = stableKnown
                ? Statistics.fisherGreater(canary.errors(), canary.requests(), stable.errors(), stable.requests())
                : Statistics.binomialGreater(canary.errors(), canary.requests(), config.maxErrorRate());
        // Latency against this window's stable where it has enough requests, else against its last window that did.
        // That window saw another moment and a smaller share of the users: the tail and the rank test move with
        // both (an identical release fails them on a busy host), so only a shift of the median beyond the ratio
        // and the slack counts against it, which is what a release that cannot carry the traffic shows.
        Sample latencyBasis = stableKnown ? stable : earlierStable;
        boolean sameWindow = stableKnown;
        Figures b = sameWindow || latencyBasis == null ? s : figures(latencyBasis);
        String basis = sameWindow || latencyBasis == null ? ""
                : " (stable's in an earlier window of " + latencyBasis.requests() + " requests)";
        // Not run against an earlier window, so that a check does not show figures its verdict did not use.
        Statistics.UTest u = sameWindow || latencyBasis == null
                ? Statistics.mannWhitney(canary.latencyMicros(), stable.latencyMicros())
                : new Statistics.UTest(Double.NaN, Double.NaN);

        if (errorP < alpha && c.errorRate() > config.maxErrorRate()) {
            return fail(step, weight, String.format(Locale.ROOT,
                    "error rate %.2f%% against %.2f%% (p=%.4f < %.4f, floor %.2f%%)", c.errorRate() * 100,
                    s.errorRate() * 100, errorP, alpha, config.maxErrorRate() * 100), c, s, errorP, u);
        }
        double slackMillis = config.latencySlack().toNanos() / 1e6;
        double ratio = config.maxLatencyRatio();
        boolean judgeLatency = latencyBasis != null;
        if (judgeLatency && worse(c.p50Millis(), b.p50Millis(), ratio, slackMillis)) {
            return fail(step, weight, String.format(Locale.ROOT, "p50 %.1f ms against %.1f ms%s",
                    c.p50Millis(), b.p50Millis(), basis), c, s, errorP, u);
        }
        if (judgeLatency && sameWindow && canary.requests() >= config.minP99Samples()
                && latencyBasis.requests() >= config.minP99Samples()
                && worse(c.p99Millis(), b.p99Millis(), ratio, slackMillis)) {
            return fail(step, weight, String.format(Locale.ROOT, "p99 %.1f ms against %.1f ms%s",
                    c.p99Millis(), b.p99Millis(), basis), c, s, errorP, u);
        }
        boolean rankSlower = judgeLatency && sameWindow && u.p() < alpha && u.effect() >= config.minEffect();
        if (rankSlower && c.p50Millis() - b.p50Millis() > slackMillis) {
            return fail(step, weight, String.format(Locale.ROOT,
                    "slower by rank test (p=%.4f, effect %.2f)%s", u.p(), u.effect(), basis), c, s, errorP, u);
        }
        String reason;
        if (!judgeLatency) {
            // Said, so that a promotion is not read as a latency check that passed.
            reason = String.format(Locale.ROOT, "error rate %.2f%% not significantly above the %.2f%% floor;"
                    + " latency not judged: stable had %d requests, fewer than min-requests %d, and no earlier"
                    + " window to compare with", c.errorRate() * 100, config.maxErrorRate() * 100, stable.requests(),
                    config.minRequests());
        } else if (rankSlower) {
            // A difference the rank test is sure of can still be too small to matter: say so rather than "none".
            reason = String.format(Locale.ROOT, "slower by rank test (p=%.4f, effect %.2f), but p50 %.1f ms"
                    + " against %.1f ms%s is within the %.0f ms slack", u.p(), u.effect(), c.p50Millis(),
                    b.p50Millis(), basis, slackMillis);
        } else if (!sameWindow) {
            reason = String.format(Locale.ROOT, "p50 %.1f ms against %.1f ms%s, within the %.1fx ratio or"
                    + " the %.0f ms slack", c.p50Millis(), b.p50Millis(), basis, ratio, slackMillis);
        } else {
            reason = "no significant difference";
        }
        return new Check(Instant.now(), step, weight, Verdict.PASS, reason, c, s, errorP, u.p(), u.effect());
    }

    /**
     * Why a check holds; with a hint when the canary gets far less than its weight's share of the traffic, which
     * more time will not change: a hold that would otherwise go on for ever without a word of why.
     */
    private String holdReason(Sample canary, Sample stable, double weight) {
        String reason = canary.requests() + " canary requests, fewer than min-requests " + config.minRequests();
        long total = canary.requests() + stable.requests();
        double expected = weight * total / 100;
        // Only where its share would have reached min-requests: at 1 % of a little traffic, none is mere chance.
        if (weight < 100 && expected >= config.minRequests() && canary.requests() < expected / 4) {
            // Under a quarter of its share. Requests without a bucket cookie are routed by the client's address,
            // and a browser's first one decides its cookie: clients that share one address all land on one side.
            reason += String.format(Locale.ROOT, "; the canary had %.1f%% of %d requests at weight %s%%:"
                    + " clients without a bucket cookie are routed by their address, so those behind one address"
                    + " (a balancer not listed in proxy.trusted-proxies, a NAT) all go to the same release",
                    100.0 * canary.requests() / total, total, percent(weight));
        }
        return reason;
    }

    private static String percent(double weight) {
        return weight == Math.rint(weight) ? Long.toString((long) weight) : Double.toString(weight);
    }

    private static boolean worse(double canary, double stable, double ratio, double slack) {
        return canary > stable * ratio && canary - stable > slack;
    }

    private static Check fail(int step, double weight, String reason, Figures c, Figures s, double errorP,
                              Statistics.UTest u) {
        return new Check(Instant.now(), step, weight, Verdict.FAIL, reason, c, s, errorP, u.p(), u.effect());
    }

    static Figures figures(Sample sample) {
        long n = sample.requests();
        boolean any = sample.latencyMicros().getTotalCount() > 0;
        return new Figures(sample.release(), n, sample.errors(), n == 0 ? 0 : sample.errors() / (double) n,
                any ? sample.latencyMicros().getValueAtPercentile(50) / 1000.0 : 0,
                any ? sample.latencyMicros().getValueAtPercentile(99) / 1000.0 : 0);
    }
}
