package io.canaryproxy.config;

/** A TCP address as written in the config: {@code "0.0.0.0:8080"}, {@code "[::1]:8080"}, {@code "localhost:8001"}. */
public record HostPort(String host, int port) {

    /**
     * Parses {@code host:port}; an IPv6 host is written in brackets.
     *
     * @throws IllegalArgumentException with a message fit for an operator
     */
    public static HostPort parse(String text) {
        String s = text.trim();
        if (s.contains("://")) {
            throw new IllegalArgumentException("expected host:port without a scheme, e.g. 127.0.0.1:8080");
        }
        if (s.chars().anyMatch(c -> c == ',' || c == ';' || Character.isWhitespace(c))
                && s.chars().filter(c -> c == ':').count() > 1) {
            // "127.0.0.1:8001, 127.0.0.1:8002" as one string would otherwise read as an IPv6 host without brackets.
            throw new IllegalArgumentException(several("127.0.0.1:8001", "127.0.0.1:8002"));
        }
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("expected host:port, e.g. 127.0.0.1:8080");
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("an IPv6 host must be written in brackets, e.g. [::1]:8080");
        }
        if (host.isEmpty() || host.chars().anyMatch(c -> Character.isWhitespace(c) || c == '/' || c == '[' || c == ']')) {
            throw new IllegalArgumentException("expected host:port, e.g. 127.0.0.1:8080");
        }
        String portText = s.substring(colon + 1);
        if (portText.startsWith("-") && portText.length() > 1
                && portText.chars().skip(1).allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("port must be between 0 and 65535");
        }
        if (!portText.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("port is not a number");
        }
        int port;
        try {
            port = Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be between 0 and 65535");
        }
        return new HostPort(host, port);
    }

    /** The answer to several addresses written as one string, with two of the kind expected as the example. */
    static String several(String example, String another) {
        return "expected one address; several go in a list such as [\"" + example + "\", \"" + another + "\"]";
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
