package io.canaryproxy.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.analysis.Check.Verdict;
import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.config.ConfigLoader;
import java.util.Random;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** The judge on synthetic traffic, where the truth is known. Seeded, so every run sees the same traffic. */
class JudgeTest {

    private final AnalysisConfig config = AnalysisConfig.from(ConfigLoader.defaults().getConfig("proxy"));
    private final Judge judge = new Judge(config);
    private final Random random = new Random(20261122);

    /** One window of one release: {@code n} requests, each an error with probability {@code errorRate}, latencies
     * log-normal around {@code medianMillis}. */
    private Sample window(String release, int n, double errorRate, double medianMillis) {
        Histogram h = Sample.newHistogram();
        long errors = 0;
        for (int i = 0; i < n; i++) {
            if (random.nextDouble() < errorRate) {
                errors++;
            }
            double millis = medianMillis * Math.exp(0.5 * random.nextGaussian());
            h.recordValue(Math.max(1, (long) (millis * 1000)));
        }
        return new Sample(release, n, errors, h);
    }

    /** A run through every step: 2 consecutive failures roll back. */
    private boolean rolledBack(double canaryErrors, double canaryMedian) {
        int consecutive = 0;
        for (int step = 0; step < config.steps().size(); step++) {
            Verdict v;
            int windows = 0;
            do {
                v = judge.judge(window("green", 200, canaryErrors, canaryMedian), window("blue", 2000, 0.005, 50),
                        step, config.steps().get(step)).verdict();
                consecutive = v == Verdict.FAIL ? consecutive + 1 : 0;
                if (consecutive >= config.failureLimit()) {
                    return true;
                }
            } while (v != Verdict.PASS && ++windows < 10);
        }
        return false;
    }

    @Test
    void anAaComparisonRollsBackInFewerThanOnePercentOfRuns() {
        int rollbacks = 0;
        int runs = 1000;
        for (int run = 0; run < runs; run++) {
            if (rolledBack(0.005, 50)) {
                rollbacks++;
            }
        }
        assertThat(rollbacks).as("rollbacks of identical releases in %d runs", runs).isLessThan(runs / 100);
    }

    @Test
    void aCanaryWithFivePercentErrorsAgainstHalfAPercentIsCaughtWithinTwoIntervals() {
        int caught = 0;
        int runs = 500;
        for (int run = 0; run < runs; run++) {
            for (int interval = 0; interval < 2; interval++) {
                Check check = judge.judge(window("green", 100, 0.05, 50), window("blue", 900, 0.005, 50), 2, 10);
                if (check.verdict() == Verdict.FAIL) {
                    assertThat(check.reason()).startsWith("error rate");
                    caught++;
                    break;
                }
            }
        }
        assertThat(caught).as("runs in which a failed check came within 2 intervals").isGreaterThan(runs * 9 / 10);
    }

    /** The rank test is sure that 70 ms is slower than 50, but 20 ms is within the slack: a pass that says why. */
    @Test
    void aSmallSureDifferenceWithinTheSlackPassesAndSaysSo() {
        Check check = judge.judge(window("green", 2000, 0, 70), window("blue", 2000, 0, 50), 2, 10);
        assertThat(check.verdict()).isEqualTo(Verdict.PASS);
        assertThat(check.latencyP()).isLessThan(0.01);
        assertThat(check.reason()).startsWith("slower by rank test (p=").contains("is within the 25 ms slack");
    }

    @Test
    void aCanaryTwiceAsSlowIsCaught() {
        int caught = 0;
        for (int i = 0; i < 100; i++) {
            Check check = judge.judge(window("green", 100, 0.005, 100), window("blue", 900, 0.005, 50), 2, 10);
            if (check.verdict() == Verdict.FAIL) {
                caught++;
            }
        }
        assertThat(caught).isGreaterThanOrEqualTo(99);
    }

    @Test
    void aSlowerTailIsCaughtByP99OnceThereAreEnoughSamples() {
        Histogram canary = Sample.newHistogram();
        Histogram stable = Sample.newHistogram();
        for (int i = 0; i < 1000; i++) {
            canary.recordValue(i % 50 == 0 ? 900_000 : 20_000); // 2 % of requests take 900 ms
            stable.recordValue(20_000);
        }
        Check check = judge.judge(new Sample("green", 1000, 0, canary), new Sample("blue", 1000, 0, stable), 1, 5);
        assertThat(check.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(check.reason()).startsWith("p99");
    }

    @Test
    void threeRequestsWithOneErrorIsAHoldNotAFail() {
        Check check = judge.judge(window("green", 3, 0, 50), window("blue", 300, 0, 50), 0, 1);
        Sample withError = new Sample("green", 3, 1, window("green", 3, 0, 50).latencyMicros());
        check = judge.judge(withError, window("blue", 300, 0, 50), 0, 1);
        assertThat(check.verdict()).isEqualTo(Verdict.HOLD);
        assertThat(check.reason()).contains("3 canary requests");
    }

    /** A canary that gets far less than its share holds with a hint of why: waiting longer will not change it. */
    @Test
    void aHoldWithFarLessThanTheWeightsShareSaysWhy() {
        Check starved = judge.judge(window("green", 0, 0, 50), window("blue", 26_172, 0, 50), 0, 5);
        assertThat(starved.verdict()).isEqualTo(Verdict.HOLD);
        assertThat(starved.reason()).startsWith("0 canary requests, fewer than min-requests")
                .contains("the canary had 0.0% of 26172 requests at weight 5%", "trusted-proxies");

        Check young = judge.judge(window("green", 40, 0, 50), window("blue", 760, 0, 50), 0, 5);
        assertThat(young.verdict()).isEqualTo(Verdict.HOLD);
        assertThat(young.reason()).doesNotContain("trusted-proxies");

        // At 1 % of 150 requests, one or two are due, and none is mere chance.
        Check unlucky = judge.judge(window("green", 0, 0, 50), window("blue", 150, 0, 50), 0, 1);
        assertThat(unlucky.reason()).doesNotContain("trusted-proxies");
    }

    @Test
    void anErrorRateUnderTheFloorNeverFailsHoweverSignificant() {
        Check check = judge.judge(new Sample("green", 100_000, 800, window("g", 100, 0, 50).latencyMicros()),
                new Sample("blue", 100_000, 100, window("b", 100, 0, 50).latencyMicros()), 3, 25);
        assertThat(check.errorP()).isLessThan(1e-6);
        assertThat(check.verdict()).isEqualTo(Verdict.PASS);
    }

    @Test
    void everyCheckCarriesItsFigures() {
        Check check = judge.judge(window("green", 300, 0.05, 80), window("blue", 3000, 0.005, 50), 2, 10);
        assertThat(check.canary().requests()).isEqualTo(300);
        assertThat(check.stable().requests()).isEqualTo(3000);
        assertThat(check.canary().errorRate()).isBetween(0.01, 0.1);
        assertThat(check.canary().p50Millis()).isBetween(60.0, 100.0);
        assertThat(check.stable().p99Millis()).isGreaterThan(check.stable().p50Millis());
        assertThat(check.errorP()).isBetween(0.0, 1.0);
        assertThat(check.latencyP()).isBetween(0.0, 1.0);
        assertThat(check.logLine()).contains("green 300 req").contains("blue 3000 req").contains("errors p=");
    }

    @Test
    void atTheLastStepsTheCanaryIsHeldToTheFloorWhenStableHasNoTraffic() {
        Check broken = judge.judge(window("green", 1500, 0.3, 50), window("blue", 2, 0, 50), 2, 100);
        assertThat(broken.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(broken.reason()).startsWith("error rate");

        Check fine = judge.judge(window("green", 1500, 0.005, 50), window("blue", 2, 0, 50), 2, 100);
        assertThat(fine.verdict()).isEqualTo(Verdict.PASS);
    }

    /** A canary fast at 10 % that cannot carry 100 % is judged where it matters: against stable's last window. */
    @Test
    void atTheLastStepsTheCanarysLatencyIsComparedWithStablesLastFullWindow() {
        Sample earlier = window("blue", 2000, 0.005, 50);

        Check slow = judge.judge(window("green", 1500, 0.005, 400), window("blue", 2, 0, 50), earlier, 2, 100);
        assertThat(slow.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(slow.reason()).startsWith("p50 ").endsWith("(stable's in an earlier window of 2000 requests)");

        Check fine = judge.judge(window("green", 1500, 0.005, 50), window("blue", 2, 0, 50), earlier, 2, 100);
        assertThat(fine.verdict()).isEqualTo(Verdict.PASS);
        assertThat(fine.reason()).matches("p50 \\d+\\.\\d ms against \\d+\\.\\d ms \\(stable's in an earlier window of"
                + " 2000 requests\\), within the 1\\.5x ratio or the 25 ms slack");
    }

    /**
     * The same release with all the users on a busy host, against stable's window at half of them: a heavier
     * tail and a rank test sure of a few milliseconds, a median well within the slack. Only the median is judged
     * across windows, so it passes; in one window the same figures fail.
     */
    @Test
    void againstAnEarlierWindowOnlyTheMedianCounts() {
        Sample earlier = spread("blue", 1400, 2_000, 35_000);
        Sample busier = spread("green", 2200, 6_000, 75_000);

        Check check = judge.judge(busier, window("blue", 0, 0, 50), earlier, 2, 100);
        assertThat(check.verdict()).isEqualTo(Verdict.PASS);
        assertThat(check.reason()).startsWith("p50 ").contains("(stable's in an earlier window of 1400 requests)");

        Check sameWindow = judge.judge(busier, earlier, 1, 50);
        assertThat(sameWindow.verdict()).isEqualTo(Verdict.FAIL);
        assertThat(sameWindow.reason()).startsWith("p99 ");
    }

    /** {@code n} requests, 98 % of them at {@code p50Micros} and the rest at {@code tailMicros}. */
    private static Sample spread(String release, int n, long p50Micros, long tailMicros) {
        Histogram h = Sample.newHistogram();
        for (int i = 0; i < n; i++) {
            h.recordValue(i % 50 == 0 ? tailMicros : p50Micros + i % 7);
        }
        return new Sample(release, n, 0, h);
    }

    /** With nothing to compare latency with, a pass says so: a promotion is not read as a latency check passed. */
    @Test
    void aPassWithoutALatencyComparisonSaysSo() {
        Check check = judge.judge(window("green", 1500, 0.005, 400), window("blue", 2, 0, 50), null, 0, 100);

        assertThat(check.verdict()).isEqualTo(Verdict.PASS);
        assertThat(check.reason()).contains("latency not judged: stable had 2 requests, fewer than min-requests");
    }

    @Test
    void binomialMatchesAKnownValue() {
        // P(X >= 2) for X ~ Binomial(3, 0.5) = 4/8.
        assertThat(Statistics.binomialGreater(2, 3, 0.5)).isCloseTo(0.5, org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void fisherMatchesAKnownValue() {
        // Lady tasting tea: 3 of 4 right against 1 of 4 -> one-sided p = 17/70.
        assertThat(Statistics.fisherGreater(3, 4, 1, 4)).isCloseTo(17.0 / 70, org.assertj.core.data.Offset.offset(1e-9));
    }
}
