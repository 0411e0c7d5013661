package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WeightsTest {

    @Test
    void percentagesWithUpToTwoDecimalsAreBasisPoints() {
        assertThat(Weights.basisPoints("0")).isZero();
        assertThat(Weights.basisPoints("10")).isEqualTo(1000);
        assertThat(Weights.basisPoints("12.5")).isEqualTo(1250);
        assertThat(Weights.basisPoints("0.01")).isEqualTo(1);
        assertThat(Weights.basisPoints("33.30")).isEqualTo(3330);
        assertThat(Weights.basisPoints("12.3400")).isEqualTo(1234);
        assertThat(Weights.basisPoints("100")).isEqualTo(10_000);
        assertThat(Weights.basisPoints("100.00")).isEqualTo(10_000);
        assertThat(Weights.basisPoints("007")).isEqualTo(700);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "abc", "NaN", "Infinity", "1e2", "1e400", "0x10", " 10", "10 ", "10%", "+5", ".5",
        "5.", "1,5"})
    void anythingButAPlainNumberIsRefused(String text) {
        assertThatThrownBy(() -> Weights.basisPoints(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("expected " + Weights.EXPECTED);
    }

    @ParameterizedTest
    @ValueSource(strings = {"-1", "-0.5", "100.01", "150", "99999999999999999999999999"})
    void outsideZeroToHundredIsRefused(String text) {
        assertThatThrownBy(() -> Weights.basisPoints(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("must be from 0 to 100 (a percentage of users)");
    }

    @Test
    void moreThanTwoDecimalsIsRefused() {
        assertThatThrownBy(() -> Weights.basisPoints("12.345"))
                .hasMessage("at most 2 decimals: the weight has a resolution of 0.01 %");
        assertThatThrownBy(() -> Weights.basisPoints("0.001"))
                .hasMessage("at most 2 decimals: the weight has a resolution of 0.01 %");
    }

    @Test
    void nullIsRefused() {
        assertThatThrownBy(() -> Weights.basisPoints(null)).isInstanceOf(IllegalArgumentException.class);
    }
}
