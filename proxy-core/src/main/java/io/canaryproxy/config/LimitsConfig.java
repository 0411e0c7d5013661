package io.canaryproxy.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Limits on what a client may send.
 *
 * @param maxHeaderSize     bytes of all request headers together (431 above)
 * @param maxInitialLine    bytes of the request line (414 above)
 * @param maxBodySize       bytes of a request body (413 above)
 * @param headerReadTimeout time a client has to send a complete request head once it started one
 * @param clientIdleTimeout time an idle keep-alive client connection is kept open
 * @param bodyTempDir       where a chunked request body too large to hold in memory is kept until it is whole
 */
public record LimitsConfig(
        int maxHeaderSize,
        int maxInitialLine,
        long maxBodySize,
        Duration headerReadTimeout,
        Duration clientIdleTimeout,
        Path bodyTempDir) {
}
