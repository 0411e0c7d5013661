package io.canaryproxy.config;

import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.time.Duration;

/** A config value read as a duration, the one way for the whole file; each reader says what was wrong in its words. */
final class Durations {

    private Durations() {
    }

    /**
     * {@code value} as a duration: text with a unit ({@code 30s}, {@code 500ms}), or a bare 0, which needs none.
     * {@code null} for anything else, a number without a unit included (see {@link BareNumbers}). May be negative
     * or {@link ConfigBinder#SATURATED}: the caller knows which range its key allows.
     */
    static Duration of(ConfigValue value) {
        if (BareNumbers.isNonZeroWithoutUnit(value)) {
            return null;
        }
        if (value.valueType() == ConfigValueType.NUMBER) {
            return Duration.ZERO;
        }
        if (value.valueType() != ConfigValueType.STRING) {
            return null;
        }
        try {
            return ConfigBinder.single(value).getDuration("v");
        } catch (com.typesafe.config.ConfigException e) {
            return null;
        }
    }
}
