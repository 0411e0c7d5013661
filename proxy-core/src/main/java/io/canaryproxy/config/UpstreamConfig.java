package io.canaryproxy.config;

import java.time.Duration;

/**
 * How the proxy talks to endpoints.
 *
 * @param maxConnections  per endpoint, shared evenly among event loops
 * @param maxIdleConnections idle ones kept per endpoint, shared evenly among event loops; beyond it the least
 *                        recently used is closed
 * @param maxRetries      extra attempts for a request that may be retried
 * @param ejectAfter      consecutive connect failures after which an endpoint is taken out of rotation
 * @param ejectDuration   how long an ejected endpoint stays out when active health checks are off
 * @param maxResponseBuffer bytes of one response kept on disk while its client takes it slower than the endpoint
 *                        sends it; 0 for none (the endpoint is then read only as fast as the client reads)
 */
public record UpstreamConfig(
        Duration connectTimeout,
        Duration responseTimeout,
        Duration poolIdleTimeout,
        int maxConnections,
        int maxIdleConnections,
        int maxRetries,
        int ejectAfter,
        Duration ejectDuration,
        long maxResponseBuffer) {
}
