package io.canaryproxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.internal.IoFailures;
import io.netty.channel.ChannelException;
import io.netty.channel.ConnectTimeoutException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.ConnectException;
import java.net.SocketException;
import org.junit.jupiter.api.Test;

/** How a failed connect is told apart and shown: the operator reads these in the log and in refusals. */
class ConnectFailureTest {

    @Test
    void aFullUnixSocketBacklogIsBusyNotDead() {
        assertThat(IoFailures.isBusy(new ConnectException(
                "connect(..) failed with error(-11): Resource temporarily unavailable"))).isTrue();
        assertThat(IoFailures.isBusy(new IOException("wrapped", new ConnectException(
                "connect(..) failed with error(-11): Resource temporarily unavailable")))).isTrue();
        assertThat(IoFailures.isBusy(new ConnectException(
                "connect(..) failed with error(-111): Connection refused"))).isFalse();
        assertThat(IoFailures.isBusy(new FileNotFoundException())).isFalse();
    }

    /** What is tried as the last resort: connects that fail at once, telling that nothing listens there. */
    @Test
    void aRefusalOrAMissingSocketFileIsToldFromATimeout() {
        assertThat(IoFailures.isRefused(new FileNotFoundException())).isTrue();
        assertThat(IoFailures.isRefused(new ConnectException(
                "connect(..) failed with error(-111): Connection refused"))).isTrue();
        // Java's own sockets (the nio transport), wrapped as Netty annotates them.
        assertThat(IoFailures.isRefused(new IOException("No such file or directory: /run/blue.sock",
                new SocketException("No such file or directory")))).isTrue();
        assertThat(IoFailures.isRefused(new ConnectException("Connection refused: /127.0.0.1:9"))).isTrue();
        // A socket file the proxy's user may not write to: a chmod away from serving.
        assertThat(IoFailures.isRefused(new ConnectException(
                "connect(..) failed with error(-13): Permission denied"))).isTrue();
        assertThat(IoFailures.isRefused(new SocketException("Permission denied"))).isTrue();
        assertThat(IoFailures.isRefused(new ConnectTimeoutException("connection timed out: /10.0.0.7:8000"))).isFalse();
        assertThat(IoFailures.isRefused(new ConnectException(
                "connect(..) failed with error(-113): No route to host"))).isFalse();
    }

    /** The proxy's own shortage, as each transport reports it, wrapped as Netty wraps a channel it could not make. */
    @Test
    void runningOutOfFileDescriptorsIsToldFromAFaultOfTheEndpoint() {
        Throwable epoll = new ChannelException("Unable to create Channel from class class EpollSocketChannel",
                new InvocationTargetException(new ChannelException(
                        new IOException("newSocketStream(..) failed: Too many open files"))));
        assertThat(IoFailures.isOutOfDescriptors(epoll)).isTrue();
        assertThat(IoFailures.describe(epoll)).isEqualTo("too many open files");
        assertThat(IoFailures.isOutOfDescriptors(new IOException("accept(..) failed with error(-24): Too many open"
                + " files"))).isTrue();
        assertThat(IoFailures.isOutOfDescriptors(new ChannelException("Failed to open a socket.",
                new SocketException("Too many open files")))).isTrue();
        assertThat(IoFailures.isOutOfDescriptors(new IOException("Too many open files in system"))).isTrue();
        assertThat(IoFailures.isOutOfDescriptors(new ConnectException(
                "connect(..) failed with error(-111): Connection refused"))).isFalse();
    }

    @Test
    void exceptionsWithoutAMessageAreNamedForWhatTheyMean() {
        assertThat(IoFailures.describeConnect(new FileNotFoundException())).isEqualTo("no such socket file");
        assertThat(IoFailures.describe(new FileNotFoundException())).isEqualTo("no such file or directory");
        assertThat(IoFailures.describe(new ConnectTimeoutException("connection timed out: /127.0.0.1:9")))
                .isEqualTo("connect timed out");
        assertThat(IoFailures.describe(new ConnectException("connect(..) failed with error(-111): Connection refused")))
                .isEqualTo("connection refused");
        assertThat(IoFailures.describeConnect(new SocketException("No such file or directory")))
                .isEqualTo("no such socket file");
        assertThat(IoFailures.describe(new IOException())).isEqualTo("IOException");
    }

    /** The system's words, without the system call, errno and address the native transports wrap them in. */
    @Test
    void failuresAreToldInTheSystemsWords() {
        assertThat(IoFailures.describe(new ConnectException(
                "finishConnect(..) failed with error(-111): Connection refused: /127.0.0.1:21202")))
                .isEqualTo("connection refused");
        assertThat(IoFailures.describe(new ConnectException("Connection refused: /127.0.0.1:9")))
                .isEqualTo("connection refused");
        assertThat(IoFailures.describe(new IOException("readAddress(..) failed: Connection reset by peer")))
                .isEqualTo("connection reset by peer");
        assertThat(IoFailures.describe(new IOException("connect(..) failed with error(-113): No route to host")))
                .isEqualTo("no route to host");
        assertThat(IoFailures.describe(new ConnectException(
                "io_uring connect(..) failed with error(-111): Connection refused")))
                .isEqualTo("connection refused");
        assertThat(IoFailures.describe(new IOException("io_uring read(..) failed with error(-104): Connection reset"
                + " by peer"))).isEqualTo("connection reset by peer");
        assertThat(IoFailures.describe(new IOException("EOF"))).isEqualTo("EOF");
    }
}
