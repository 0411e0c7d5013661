package io.canaryproxy.admin;

import java.math.BigDecimal;
import java.util.regex.Pattern;

/**
 * Parses a canary weight as an operator types it: a percentage from 0 to 100 with at most two decimals
 * ({@code 10}, {@code 12.5}, {@code 0.01}), the route table's 0.01 % resolution. Nothing else is read as a number:
 * not {@code 1e2}, not {@code NaN}, not {@code 10%}.
 */
final class Weights {

    /** What a valid weight looks like, for error messages. */
    static final String EXPECTED = "a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5";

    private static final Pattern NUMBER = Pattern.compile("-?\\d{1,30}(\\.\\d{1,30})?");
    private static final BigDecimal HUNDRED = BigDecimal.valueOf(100);

    private Weights() {
    }

    /**
     * @return the weight in basis points (hundredths of a percent), 0..10000
     * @throws IllegalArgumentException with what was expected, without repeating {@code text}
     */
    static int basisPoints(String text) {
        if (text == null || !NUMBER.matcher(text).matches()) {
            throw new IllegalArgumentException("expected " + EXPECTED);
        }
        BigDecimal percent = new BigDecimal(text);
        if (percent.signum() < 0 || percent.compareTo(HUNDRED) > 0) {
            throw new IllegalArgumentException("must be from 0 to 100 (a percentage of users)");
        }
        BigDecimal basisPoints = percent.movePointRight(2).stripTrailingZeros();
        if (basisPoints.scale() > 0) {
            throw new IllegalArgumentException("at most 2 decimals: the weight has a resolution of 0.01 %");
        }
        return basisPoints.intValueExact();
    }
}
