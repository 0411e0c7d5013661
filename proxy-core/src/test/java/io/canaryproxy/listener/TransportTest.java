package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.TransportChoice;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.Ports;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every transport {@code proxy.transport} offers carries the same runbook: blue on a Unix socket, green on a TCP
 * port, keep-alive load, a switch under that load, nothing failed, nothing leaked at the stop.
 */
class TransportTest {

    @TempDir
    Path sockets;

    @ParameterizedTest
    @EnumSource(value = TransportChoice.class, names = {"EPOLL", "IO_URING", "NIO"})
    void proxiesToAUnixSocketAndATcpPortAndSwitchesUnderLoad(TransportChoice choice) throws Exception {
        Transport transport = Transport.valueOf(choice.name());
        Assumptions.assumeTrue(transport.isAvailable(), choice + " is not available here");
        try (Gunicorn blue = Gunicorn.unixSocket("blue", sockets).start();
             Gunicorn green = Gunicorn.tcp("green").start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       transport = %s
                       releases.blue.endpoints = ["%s"]
                       releases.green.endpoints = ["%s"]
                       routing.stable = blue
                     }
                     """.formatted(choice, blue.endpoint(), green.endpoint())))) {
            assertThat(proxy.transport()).isEqualTo(transport);
            try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
                assertThat(client.get("/").bodyText()).isEqualTo("release=blue\n");
                try (LoadGenerator load = LoadGenerator.start(proxy.listenAddress(), 4, 2)) {
                    load.awaitMoreSuccesses(200, Duration.ofSeconds(30));
                    proxy.switchTo("green", false);
                    load.awaitMoreSuccesses(200, Duration.ofSeconds(30));
                    LoadGenerator.Stats stats = load.stop();
                    assertThat(stats.failures()).as("%s", stats.failureSamples()).isZero();
                }
                assertThat(client.get("/").bodyText()).isEqualTo("release=green\n");
            }
        }
    }

    /**
     * {@code 0.0.0.0} is IPv4's wildcard, as in nginx: an IPv6 client is not let in through it (a firewall written
     * for IPv4 would not stop one). Netty's io_uring listener has no choice of address family.
     */
    @ParameterizedTest
    @EnumSource(value = TransportChoice.class, names = {"EPOLL", "NIO"})
    void theIpv4WildcardTakesNoIpv6Connection(TransportChoice choice) throws Exception {
        Transport transport = Transport.valueOf(choice.name());
        Assumptions.assumeTrue(transport.isAvailable(), choice + " is not available here");
        Assumptions.assumeTrue(Ports.ipv6Loopback(), "no IPv6 loopback here");
        try (CanaryProxy proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:9",
                "proxy { transport = %s, listen = \"0.0.0.0:0\" }".formatted(choice)))) {
            int port = proxy.listenAddress().getPort();
            assertThat(proxy.listenAddress().getAddress().getHostAddress()).isEqualTo("0.0.0.0");
            try (Socket v4 = new Socket("127.0.0.1", port)) {
                assertThat(v4.isConnected()).isTrue();
            }
            assertThatThrownBy(() -> new Socket("::1", port).close()).isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void autoIsEpollWhereItLoadsAndNioElsewhere() {
        assertThat(Transport.select(TransportChoice.AUTO))
                .isEqualTo(Transport.EPOLL.isAvailable() ? Transport.EPOLL : Transport.NIO);
        assertThat(Transport.select(TransportChoice.NIO)).isEqualTo(Transport.NIO);
    }

    @ParameterizedTest
    @EnumSource(value = TransportChoice.class, names = {"EPOLL", "IO_URING"})
    void aNativeTransportThatCannotRunHereIsAConfigErrorThatSaysWhy(TransportChoice choice) {
        Transport transport = Transport.valueOf(choice.name());
        Assumptions.assumeFalse(transport.isAvailable(), choice + " is available here");
        assertThatThrownBy(() -> Transport.select(choice))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("proxy.transport = \"" + choice + "\": native " + choice
                        + " is not available on this machine (")
                .hasMessageEndingWith("); use auto or nio");
    }
}
