package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ByteRangeTest {

    @Test
    void singleRanges() {
        assertThat(ByteRange.parse("bytes=0-499", 1000)).isEqualTo(new ByteRange(0, 499));
        assertThat(ByteRange.parse("bytes=500-", 1000)).isEqualTo(new ByteRange(500, 999));
        assertThat(ByteRange.parse("bytes=-200", 1000)).isEqualTo(new ByteRange(800, 999));
        assertThat(ByteRange.parse("bytes=-2000", 1000)).isEqualTo(new ByteRange(0, 999));
        assertThat(ByteRange.parse("bytes=900-5000", 1000)).isEqualTo(new ByteRange(900, 999));
        assertThat(ByteRange.parse("bytes=0-99999999999999999999", 1000)).isEqualTo(new ByteRange(0, 999));
        assertThat(ByteRange.parse("Bytes=0-0", 1000).length()).isEqualTo(1);
    }

    @Test
    void unsatisfiable() {
        assertThat(ByteRange.parse("bytes=1000-", 1000)).isSameAs(ByteRange.UNSATISFIABLE);
        assertThat(ByteRange.parse("bytes=1000-1001", 1000)).isSameAs(ByteRange.UNSATISFIABLE);
        assertThat(ByteRange.parse("bytes=-0", 1000)).isSameAs(ByteRange.UNSATISFIABLE);
        assertThat(ByteRange.parse("bytes=0-", 0)).isSameAs(ByteRange.UNSATISFIABLE);
        assertThat(ByteRange.parse("bytes=-1", 0)).isSameAs(ByteRange.UNSATISFIABLE);
        assertThat(ByteRange.parse("bytes=99999999999999999999-", 1000)).isSameAs(ByteRange.UNSATISFIABLE);
    }

    @Test
    void ignoredSoTheWholeFileIsSent() {
        for (String header : new String[] {"", "bytes", "bytes=", "bytes=-", "bytes=5-4", "bytes=0-1,3-4",
                "bytes=a-", "bytes=1-b", "bytes=--1", "bytes=1--2", "lines=1-2", "1-2", "bytes=-+1"}) {
            assertThat(ByteRange.parse(header, 1000)).as(header).isNull();
        }
    }
}
