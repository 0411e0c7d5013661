package io.canaryproxy.config;

import java.time.Duration;

/**
 * The route table the proxy starts with (unless the state file says otherwise) and routing options.
 *
 * @param stable       the release that gets all traffic not sent to the canary
 * @param canary       the canary release, or {@code null}
 * @param weightBasisPoints the canary's share in hundredths of a percent, 0..10000
 */
public record RoutingConfig(
        String stable,
        String canary,
        int weightBasisPoints,
        String stickyCookieName,
        Duration stickyCookieMaxAge,
        boolean overrides,
        boolean servedByHeader) {
}
