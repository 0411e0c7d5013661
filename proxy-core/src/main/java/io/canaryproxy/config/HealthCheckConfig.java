package io.canaryproxy.config;

import java.time.Duration;

/**
 * Active health checks: {@code GET path} on every endpoint each {@code interval}. A 2xx or 3xx answer within
 * {@code timeout} is a success; {@code rise} successes in a row make an endpoint healthy, {@code fall} failures
 * unhealthy. An interval of zero turns active checks off.
 */
public record HealthCheckConfig(String path, Duration interval, Duration timeout, int rise, int fall) {

    /** The least time a check asked for by a switch is given, whatever {@code timeout} says. */
    private static final Duration PROBE_MIN_TIMEOUT = Duration.ofSeconds(2);

    public boolean enabled() {
        return !interval.isZero();
    }

    /**
     * How long a check asked for by a switch or canary change may take: {@code timeout}, but at least 2 s. The
     * scheduled checks keep a tight timeout to notice a stuck process; an operator's switch should not be refused
     * because one answer was slow.
     */
    public Duration probeTimeout() {
        return timeout.compareTo(PROBE_MIN_TIMEOUT) < 0 ? PROBE_MIN_TIMEOUT : timeout;
    }
}
