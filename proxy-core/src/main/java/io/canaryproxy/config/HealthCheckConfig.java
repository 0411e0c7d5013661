package io.canaryproxy.config;

import java.time.Duration;

/**
 * Active health checks: {@code GET path} on every endpoint each {@code interval}. A 2xx or 3xx answer within
 * {@code timeout} is a success; {@code rise} successes in a row make an endpoint healthy, {@code fall} failures
 * unhealthy. An interval of zero turns active checks off.
 */
public record HealthCheckConfig(String path, Duration interval, Duration timeout, int rise, int fall) {

    public boolean enabled() {
        return !interval.isZero();
    }
}
