package io.canaryproxy.admin;

import io.netty.handler.codec.http.QueryStringDecoder;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The path and query parameters of an admin request, with accessors that turn a missing or malformed parameter
 * into a 400 {@link AdminException} whose message tells the operator what was expected.
 */
final class QueryParams {

    private final String path;
    private final Map<String, List<String>> params;

    private QueryParams(String path, Map<String, List<String>> params) {
        this.path = path;
        this.params = params;
    }

    /** Parses a request target such as {@code /drain?release=blue&timeout=30s}. */
    static QueryParams parse(String uri) {
        QueryStringDecoder decoder;
        try {
            decoder = new QueryStringDecoder(uri);
            return new QueryParams(decoder.path(), decoder.parameters());
        } catch (IllegalArgumentException e) {
            throw AdminException.badRequest("malformed request target: " + e.getMessage());
        }
    }

    String path() {
        return path;
    }

    /** 400 naming the first parameter that is not one of {@code known}. */
    void requireOnly(List<String> known, String path) {
        for (String name : params.keySet()) {
            if (!known.contains(name)) {
                throw AdminException.badRequest("unknown query parameter '" + name + "' for " + path
                        + (known.isEmpty() ? ", which takes none" : " (known: " + String.join(", ", known) + ")"));
            }
        }
    }

    /** The parameter's value; 400 when it is missing, empty or given twice with different values. */
    String required(String name, String example) {
        String value = optional(name);
        if (value == null) {
            throw AdminException.badRequest("missing query parameter '" + name + "', e.g. " + example);
        }
        if (value.isEmpty()) {
            throw AdminException.badRequest("query parameter '" + name + "' is empty, e.g. " + example);
        }
        return value;
    }

    /** The parameter's value, or {@code null} when absent; 400 when given twice with different values. */
    String optional(String name) {
        List<String> values = params.get(name);
        if (values == null || values.isEmpty()) {
            return null;
        }
        String first = values.get(0);
        for (String v : values) {
            if (!v.equals(first)) {
                throw AdminException.badRequest("query parameter '" + name + "' given more than once");
            }
        }
        return first;
    }

    /** {@code true}, {@code false}, {@code 1}, {@code 0}, or present without a value ({@code ?force}) for true. */
    boolean bool(String name, boolean defaultValue) {
        String value = optional(name);
        if (value == null) {
            return defaultValue;
        }
        switch (value.toLowerCase(Locale.ROOT)) {
            case "":
            case "true":
            case "1":
                return true;
            case "false":
            case "0":
                return false;
            default:
                throw AdminException.badRequest(
                        "query parameter '" + name + "' = \"" + value + "\": expected true or false");
        }
    }

    /** A duration such as {@code 30s}; 400 when malformed or above {@code max}. */
    Duration duration(String name, Duration defaultValue, Duration max) {
        String value = optional(name);
        if (value == null) {
            return defaultValue;
        }
        Duration d;
        try {
            d = Durations.parse(value);
        } catch (IllegalArgumentException e) {
            throw AdminException.badRequest("query parameter '" + name + "' = \"" + value + "\": expected "
                    + Durations.EXPECTED);
        }
        if (d.compareTo(max) > 0) {
            throw AdminException.badRequest("query parameter '" + name + "' = \"" + value + "\": at most "
                    + Durations.format(max));
        }
        return d;
    }
}
