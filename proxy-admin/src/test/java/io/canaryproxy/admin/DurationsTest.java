package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {

    @ParameterizedTest
    @CsvSource({
        "30s, 30000",
        "500ms, 500",
        "2m, 120000",
        "1h, 3600000",
        "1.5s, 1500",
        "0.25m, 15000",
        "30, 30000",
        "0, 0",
        "0ms, 0",
        "' 10s ', 10000",
        "10S, 10000",
        "10 s, 10000",
    })
    void parsesShortDurations(String text, long millis) {
        assertThat(Durations.parse(text)).isEqualTo(Duration.ofMillis(millis));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "abc", "-1s", "10x", "1e3s", "s", "1.s", ".5s", "10 seconds", "1h30m", "99999999999999h"})
    void rejectsAnythingElseWithAMessageForTheOperator(String text) {
        assertThatThrownBy(() -> Durations.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"" + text + "\"");
    }

    @ParameterizedTest
    @CsvSource({"30000, 30s", "500, 500ms", "120000, 2m", "3600000, 1h", "1500, 1500ms", "0, 0s"})
    void formatsWhatItParses(long millis, String text) {
        assertThat(Durations.format(Duration.ofMillis(millis))).isEqualTo(text);
        assertThat(Durations.parse(text)).isEqualTo(Duration.ofMillis(millis));
    }
}
