package io.canaryproxy.config;

import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.util.regex.Pattern;

/**
 * Numbers written without a unit where a duration or a size is expected. Typesafe Config reads a bare number as
 * milliseconds or bytes, which is rarely what was meant ({@code interval = 30}); the binders refuse it unless it is
 * 0, which needs no unit.
 */
public final class BareNumbers {

    private static final Pattern BARE_NUMBER = Pattern.compile("[+-]?[0-9]*\\.?[0-9]+([eE][+-]?[0-9]+)?");

    private BareNumbers() {
    }

    /** Whether {@code text} is a number and nothing else, as HOCON's unquoted {@code 30} or a quoted {@code "30"}. */
    public static boolean isBareNumber(String text) {
        return BARE_NUMBER.matcher(text.trim()).matches();
    }

    /** Whether {@code value} is a number other than 0 without a unit, unquoted or quoted: refused for a duration. */
    public static boolean isNonZeroWithoutUnit(ConfigValue value) {
        if (value.valueType() == ConfigValueType.NUMBER) {
            return ((Number) value.unwrapped()).doubleValue() != 0;
        }
        if (value.valueType() == ConfigValueType.STRING) {
            String text = ((String) value.unwrapped()).trim();
            return isBareNumber(text) && Double.parseDouble(text) != 0;
        }
        return false;
    }
}
