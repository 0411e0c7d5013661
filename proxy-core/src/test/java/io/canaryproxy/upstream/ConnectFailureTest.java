package io.canaryproxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.internal.IoFailures;
import io.netty.channel.ConnectTimeoutException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.ConnectException;
import org.junit.jupiter.api.Test;

/** How a failed connect is told apart and shown: the operator reads these in the log and in refusals. */
class ConnectFailureTest {

    @Test
    void aFullUnixSocketBacklogIsBusyNotDead() {
        assertThat(Endpoint.isBusy(new ConnectException(
                "connect(..) failed with error(-11): Resource temporarily unavailable"))).isTrue();
        assertThat(Endpoint.isBusy(new IOException("wrapped", new ConnectException(
                "connect(..) failed with error(-11): Resource temporarily unavailable")))).isTrue();
        assertThat(Endpoint.isBusy(new ConnectException(
                "connect(..) failed with error(-111): Connection refused"))).isFalse();
        assertThat(Endpoint.isBusy(new FileNotFoundException())).isFalse();
    }

    @Test
    void exceptionsWithoutAMessageAreNamedForWhatTheyMean() {
        assertThat(IoFailures.describe(new FileNotFoundException())).isEqualTo("no such socket file");
        assertThat(IoFailures.describe(new ConnectTimeoutException("connection timed out: /127.0.0.1:9")))
                .isEqualTo("connect timed out");
        assertThat(IoFailures.describe(new ConnectException("connect(..) failed with error(-111): Connection refused")))
                .isEqualTo("connect(..) failed with error(-111): Connection refused");
        assertThat(IoFailures.describe(new IOException())).isEqualTo("IOException");
    }
}
