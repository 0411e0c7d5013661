package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PrecompressedTest {

    @ParameterizedTest(name = "[{0}] br {1}, gzip {2}")
    @CsvSource(delimiter = '|', nullValues = "NONE", textBlock = """
            NONE                          | false | false
            ''                            | false | false
            gzip, deflate, br             | true  | true
            gzip                          | false | true
            GZIP                          | false | true
            x-gzip                        | false | true
            br;q=0, gzip                  | false | true
            br;q=0.0, gzip;q=0.5          | false | true
            gzip;q=0.000                  | false | false
            *                             | true  | true
            *;q=0                         | false | false
            *, gzip;q=0                   | true  | false
            identity                      | false | false
            deflate;q=1, br ; q = 0.8     | true  | false
            br;q=x                        | false | false
            """)
    void anAcceptEncodingAcceptsWhatItNamesWithAWeightAboveZero(String header, boolean br, boolean gzip) {
        assertThat(Precompressed.BR.acceptedBy(header)).isEqualTo(br);
        assertThat(Precompressed.GZIP.acceptedBy(header)).isEqualTo(gzip);
    }
}
