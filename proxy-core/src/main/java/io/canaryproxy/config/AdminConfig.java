package io.canaryproxy.config;

/** The admin listener; an empty token means mutations need no authorization (loopback only). */
public record AdminConfig(HostPort listen, String token) {

    /** Never shows the token: this text goes into logs and into the answer to a refused reload. */
    @Override
    public String toString() {
        String shown = token == null || token.isEmpty() ? "none" : "(set)";
        return "AdminConfig[listen=" + listen + ", token=" + shown + "]";
    }
}
