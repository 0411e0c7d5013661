package io.canaryproxy.admin;

import io.canaryproxy.internal.DurationText;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses the short durations an operator types into a query string: {@code 30s}, {@code 500ms}, {@code 2m},
 * {@code 1h}, {@code 1.5s}. A bare number is seconds ({@code timeout=30} is 30 s).
 */
public final class Durations {

    /** What a valid duration looks like, for error messages. */
    public static final String EXPECTED = "a duration such as 30s, 500ms or 2m";

    private static final Pattern DURATION = Pattern.compile("(\\d{1,12})(?:\\.(\\d{1,9}))?\\s*(ms|s|m|h)?");

    private Durations() {
    }

    /**
     * @throws IllegalArgumentException with a message fit for an operator when {@code text} is not a duration
     */
    public static Duration parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("expected " + EXPECTED);
        }
        Matcher m = DURATION.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("\"" + text + "\": expected " + EXPECTED);
        }
        String number = m.group(2) == null ? m.group(1) : m.group(1) + "." + m.group(2);
        String unit = m.group(3) == null ? "s" : m.group(3);
        long nanosPerUnit = switch (unit) {
            case "ms" -> 1_000_000L;
            case "s" -> 1_000_000_000L;
            case "m" -> 60_000_000_000L;
            case "h" -> 3_600_000_000_000L;
            default -> throw new AssertionError(unit);
        };
        BigDecimal nanos = new BigDecimal(number).multiply(BigDecimal.valueOf(nanosPerUnit));
        try {
            return Duration.ofNanos(nanos.setScale(0, java.math.RoundingMode.HALF_UP).longValueExact());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("\"" + text + "\": too long", e);
        }
    }

    /**
     * The shortest way to write {@code d}: {@code 30s}, {@code 1500ms}, {@code 2m}, as the proxy's logs say it. What
     * the admin API takes is under a day ({@link AdminHandler#MAX_DRAIN_TIMEOUT}), and so {@link #parse} reads it
     * back.
     */
    public static String format(Duration d) {
        return DurationText.of(d);
    }
}
