package io.canaryproxy.config;

/**
 * A configuration that cannot be used. The message names the key, the value and what was expected, and is meant
 * to be shown to the operator as it is.
 */
public final class ConfigException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }

    /** {@code proxy.upstream.connect-timeout = "soon": expected a duration such as 2s or 500ms}. */
    public static ConfigException badValue(String key, Object value, String expected) {
        return new ConfigException(key + " = " + render(value) + ": expected " + expected);
    }

    private static String render(Object value) {
        return value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
    }
}
