package io.canaryproxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Releases and endpoints as built from a config: what a reload keeps of them, and what a failed connect ejects. */
class UpstreamsTest {

    private EventLoopGroup group;
    private EventLoop[] loops;
    private final MeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void start() {
        group = Transport.NIO.newGroup(1, "upstreams-test");
        loops = new EventLoop[] {group.next()};
    }

    @AfterEach
    void stop() {
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    private static ProxyConfig config(String green) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:9"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                }
                """.formatted(green));
    }

    /**
     * A run's check judges the whole interval: what the canary did before a reload that changed its endpoints, and
     * what its requests still finishing on the old endpoints do after it, count with the rest.
     */
    @Test
    void aReleaseRebuiltByAReloadKeepsItsAnalysisWindow() {
        Upstreams before = new Upstreams(config("127.0.0.1:10"), Transport.NIO, loops, registry);
        Release oldGreen = before.release("green");
        oldGreen.window().record(500, 1_000_000);

        Upstreams after = Upstreams.rebuild(before, config("127.0.0.1:11"), Transport.NIO, loops, registry);
        Release newGreen = after.release("green");
        oldGreen.window().record(200, 1_000_000);
        newGreen.window().record(200, 1_000_000);

        assertThat(newGreen).isNotSameAs(oldGreen);
        assertThat(after.retired()).containsExactly(oldGreen);
        var sample = newGreen.window().take("green");
        assertThat(sample.requests()).isEqualTo(3);
        assertThat(sample.errors()).isEqualTo(1);
    }

    /**
     * What a connect timeout ejects, without any network: an endpoint on another host is out of reach (it may be
     * gone from the network), one on the loopback interface is a full accept queue and stays the last resort.
     */
    @Test
    void aTimeoutEjectsAnotherHostOutrightAndALoopbackPortAsTheLastResort() {
        Upstreams upstreams = new Upstreams(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["10.0.0.7:8000", "127.0.0.1:8001"]
                  routing.stable = blue
                  health-check.interval = 0
                  upstream { eject-after = 2, eject-duration = 1h }
                }
                """), Transport.NIO, loops, registry);
        Endpoint elsewhere = upstreams.release("blue").endpoints().get(0);
        Endpoint local = upstreams.release("blue").endpoints().get(1);
        for (int i = 0; i < 2; i++) {
            elsewhere.connectFailed(new ConnectTimeoutException("connection timed out: /10.0.0.7:8000"));
            local.connectFailed(new ConnectTimeoutException("connection timed out: /127.0.0.1:8001"));
        }

        assertThat(elsewhere.usable()).isFalse();
        assertThat(elsewhere.lastResort()).isFalse();
        assertThat(local.usable()).isFalse();
        assertThat(local.lastResort()).isTrue();
        assertThat(local.problem()).contains("(connect timed out)")
                .endsWith("still tried while its release has nothing else");
    }
}
