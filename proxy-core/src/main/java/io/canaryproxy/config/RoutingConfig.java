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

    /**
     * Whether {@code percent} is a whole number of hundredths, the route table's resolution: 12.5 is, 12.345 is
     * not (it would silently become 12.35).
     */
    public static boolean inBasisPoints(double percent) {
        return Math.abs(percent * 100 - Math.rint(percent * 100)) <= 1e-6;
    }
}
