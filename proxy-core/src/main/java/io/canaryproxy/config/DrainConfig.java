package io.canaryproxy.config;

import java.time.Duration;

/** How long upgraded connections of a switched-away release, and in-flight requests at shutdown, may take. */
public record DrainConfig(Duration timeout) {
}
