package io.canaryproxy.config;

/** The admin listener; an empty token means mutations need no authorization (loopback only). */
public record AdminConfig(HostPort listen, String token) {
}
