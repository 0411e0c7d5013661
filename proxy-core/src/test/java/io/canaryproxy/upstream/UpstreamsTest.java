package io.canaryproxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.testing.TestConfigs;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What a reload keeps of the releases it rebuilds. */
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
}
