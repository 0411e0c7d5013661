package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.config.ConfigException;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** Which environment means that systemd passed this process its listening socket (sd_listen_fds(3)). */
class SystemdSocketTest {

    @Test
    void oneSocketForThisProcessIsDescriptor3() {
        assertThat(SystemdSocket.passed(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "1"), 4242))
                .isEqualTo(OptionalInt.of(3));
    }

    /** A parent started by systemd passes its variables down; they are not the child's sockets. */
    @Test
    void variablesMeantForAnotherProcessAreIgnored() {
        assertThat(SystemdSocket.passed(Map.of("LISTEN_PID", "4241", "LISTEN_FDS", "1"), 4242)).isEmpty();
        assertThat(SystemdSocket.passed(Map.of("LISTEN_FDS", "1"), 4242)).isEmpty();
        assertThat(SystemdSocket.passed(Map.of(), 4242)).isEmpty();
        assertThat(SystemdSocket.passed(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "0"), 4242)).isEmpty();
    }

    @Test
    void moreThanOneSocketIsRefusedWithWhatTheUnitNeeds() {
        assertThatThrownBy(() -> SystemdSocket.passed(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "2"), 4242))
                .isInstanceOf(ConfigException.class)
                .hasMessage("systemd passed LISTEN_FDS=2; canary-proxy takes one listening socket, its public"
                        + " listener: give its .socket unit a single ListenStream=");
        assertThatThrownBy(() -> SystemdSocket.passed(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "x"), 4242))
                .hasMessageStartingWith("systemd passed LISTEN_FDS=x; ");
    }

    @Test
    void onlyEpollCanTakeIt() {
        assertThat(Transport.EPOLL.inheritedServerChannel(3)).isNotNull();
        assertThatThrownBy(() -> Transport.IO_URING.inheritedServerChannel(3))
                .isInstanceOf(ConfigException.class)
                .hasMessage("the io_uring transport cannot take the listening socket systemd passed (LISTEN_FDS):"
                        + " socket activation needs proxy.transport = epoll, or auto where epoll is available");
        assertThatThrownBy(() -> Transport.NIO.inheritedServerChannel(3)).isInstanceOf(ConfigException.class);
    }
}
