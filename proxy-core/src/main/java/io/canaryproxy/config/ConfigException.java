package io.canaryproxy.config;

import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;
import java.util.List;

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

    /** One problem as it is, several as {@code N problems in the configuration:} and one per indented line. */
    public static ConfigException of(List<String> problems) {
        return new ConfigException(problems.size() == 1
                ? problems.get(0)
                : problems.size() + " problems in the configuration:\n  " + String.join("\n  ", problems));
    }

    /** {@code proxy.upstream.connect-timeout = "soon": expected a duration such as 2s or 500ms}. */
    public static ConfigException badValue(String key, Object value, String expected) {
        return new ConfigException(key + " = " + render(value) + ": expected " + expected);
    }

    /**
     * {@code proxy.listen = "localhost:http": port is not a number}, for a problem that is not phrased as "expected
     * ...", such as the message of an {@link IllegalArgumentException} from {@link HostPort#parse}.
     */
    public static ConfigException invalid(String key, Object value, String problem) {
        return new ConfigException(key + " = " + render(value) + ": " + problem);
    }

    /**
     * Where a value was set, to append to a problem: {@code " (in /etc/proxy.conf:12)"}, {@code " (from environment
     * variable X)"}, or {@code ""} for a default.
     */
    public static String where(ConfigValue value) {
        return ConfigBinder.where(value);
    }

    /** A string in quotes, a {@link ConfigValue} as HOCON ({@code "many"}, {@code 5}, {@code ["a","b"]}). */
    private static String render(Object value) {
        if (value instanceof ConfigValue configValue) {
            return configValue.render(ConfigRenderOptions.concise());
        }
        return value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
    }
}
