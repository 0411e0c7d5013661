package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.LoadGenerator;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where native epoll is missing the proxy runs on NIO, Unix-socket upstreams included. */
class NioTransportTest {

    @TempDir
    Path sockets;

    @Test
    void proxiesToAUnixSocketAndATcpPortOnNio() throws Exception {
        System.setProperty(Transport.PROPERTY, "nio");
        try (Gunicorn blue = Gunicorn.unixSocket("blue", sockets).start();
             Gunicorn green = Gunicorn.tcp("green").start();
             CanaryProxy proxy = CanaryProxy.start(TestConfigs.parse("""
                     proxy {
                       releases.blue.endpoints = ["%s"]
                       releases.green.endpoints = ["%s"]
                       routing.stable = blue
                     }
                     """.formatted(blue.endpoint(), green.endpoint())))) {
            assertThat(Transport.best()).isEqualTo(Transport.NIO);
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
        } finally {
            System.clearProperty(Transport.PROPERTY);
        }
    }
}
