package io.canaryproxy.analysis;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import java.util.Iterator;

/** The tests the judge uses: Fisher's exact test on error counts and the Mann–Whitney U test on latencies. */
final class Statistics {

    private Statistics() {
    }

    /**
     * One-sided Fisher's exact test: the probability, if canary and stable shared one error rate, that the canary
     * would show {@code canaryErrors} errors or more out of {@code canaryTotal} requests, given the errors seen
     * over both. Exact for small counts, where a z-test misleads, and cheap enough for large ones.
     */
    static double fisherGreater(long canaryErrors, long canaryTotal, long stableErrors, long stableTotal) {
        long total = canaryTotal + stableTotal;
        long errors = canaryErrors + stableErrors;
        if (errors == 0 || canaryTotal == 0 || stableTotal == 0) {
            return 1.0;
        }
        long maxK = Math.min(errors, canaryTotal);
        // P(X = k) = C(errors, k) C(total - errors, canaryTotal - k) / C(total, canaryTotal)
        double logDenominator = logChoose(total, canaryTotal);
        double p = 0;
        for (long k = canaryErrors; k <= maxK; k++) {
            if (canaryTotal - k > total - errors) {
                continue;
            }
            double term = Math.exp(logChoose(errors, k) + logChoose(total - errors, canaryTotal - k) - logDenominator);
            p += term;
            if (term < 1e-17 * p) {
                break; // the tail terms only shrink from here
            }
        }
        return Math.min(1.0, p);
    }

    /** One-sided binomial test: P(X >= errors) for X ~ Binomial(total, rate). */
    static double binomialGreater(long errors, long total, double rate) {
        if (errors == 0) {
            return 1.0;
        }
        if (rate <= 0) {
            return 0.0;
        }
        if (rate >= 1) {
            return 1.0;
        }
        double logP = Math.log(rate);
        double logQ = Math.log1p(-rate);
        double p = 0;
        for (long k = errors; k <= total; k++) {
            double term = Math.exp(logChoose(total, k) + k * logP + (total - k) * logQ);
            p += term;
            if (k > total * rate && term < 1e-17 * p) {
                break;
            }
        }
        return Math.min(1.0, p);
    }

    static double logChoose(long n, long k) {
        return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
    }

    private static final double[] SMALL_LOG_FACTORIALS = new double[256];

    static {
        for (int i = 1; i < SMALL_LOG_FACTORIALS.length; i++) {
            SMALL_LOG_FACTORIALS[i] = SMALL_LOG_FACTORIALS[i - 1] + Math.log(i);
        }
    }

    /** ln(n!), exact by table for small n, Stirling's series (error below 1e-12 from n = 256) above. */
    static double logFactorial(long n) {
        if (n < SMALL_LOG_FACTORIALS.length) {
            return SMALL_LOG_FACTORIALS[(int) n];
        }
        double x = n;
        return x * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI * x) + 1 / (12 * x) - 1 / (360 * x * x * x);
    }

    /** Result of a Mann–Whitney U test of "canary slower than stable". */
    record UTest(double p, double effect) {
        static final UTest NONE = new UTest(1.0, 0.5);
    }

    /**
     * Mann–Whitney U over two latency histograms, with ties (values in one histogram bucket) counted half. The
     * effect is the common-language effect size: the probability that a random canary request is slower than a
     * random stable one (0.5 = no difference). The p-value is one-sided, from the normal approximation with the
     * tie correction, which is accurate at the sample sizes the judge accepts.
     */
    static UTest mannWhitney(Histogram canary, Histogram stable) {
        long n1 = canary.getTotalCount();
        long n2 = stable.getTotalCount();
        if (n1 == 0 || n2 == 0) {
            return UTest.NONE;
        }
        // Walk both histograms in value order; for each distinct value, canary requests there beat every stable
        // request below it and tie with the stable requests at it.
        Iterator<HistogramIterationValue> a = canary.recordedValues().iterator();
        Iterator<HistogramIterationValue> b = stable.recordedValues().iterator();
        HistogramIterationValue va = a.hasNext() ? a.next() : null;
        HistogramIterationValue vb = b.hasNext() ? b.next() : null;
        double u = 0;
        long stableBelow = 0;
        double tieTerm = 0;
        while (va != null || vb != null) {
            long keyA = va == null ? Long.MAX_VALUE : canary.highestEquivalentValue(va.getValueIteratedTo());
            long keyB = vb == null ? Long.MAX_VALUE : stable.highestEquivalentValue(vb.getValueIteratedTo());
            long key = Math.min(keyA, keyB);
            long ca = keyA == key ? va.getCountAtValueIteratedTo() : 0;
            long cb = keyB == key ? vb.getCountAtValueIteratedTo() : 0;
            u += ca * (stableBelow + cb / 2.0);
            stableBelow += cb;
            long t = ca + cb;
            tieTerm += (double) t * t * t - t;
            if (keyA == key) {
                va = a.hasNext() ? a.next() : null;
            }
            if (keyB == key) {
                vb = b.hasNext() ? b.next() : null;
            }
        }
        double n = n1 + n2;
        double mean = n1 * (double) n2 / 2;
        double variance = n1 * (double) n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)));
        double effect = u / (n1 * (double) n2);
        if (variance <= 0) {
            return new UTest(1.0, effect);
        }
        double z = (u - mean - 0.5) / Math.sqrt(variance); // with continuity correction
        return new UTest(upperTail(z), effect);
    }

    /** P(Z > z) for a standard normal Z (Abramowitz–Stegun 7.1.26 through erfc; absolute error below 1.5e-7). */
    static double upperTail(double z) {
        return 0.5 * erfc(z / Math.sqrt(2));
    }

    private static double erfc(double x) {
        double t = 1 / (1 + 0.3275911 * Math.abs(x));
        double y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
                * Math.exp(-x * x);
        return x >= 0 ? y : 2 - y;
    }
}
