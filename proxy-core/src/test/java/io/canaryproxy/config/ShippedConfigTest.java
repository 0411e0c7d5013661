package io.canaryproxy.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The configuration shipped in conf/ loads as it is, and says what its comments say. */
class ShippedConfigTest {

    private static Path shipped() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("conf/canary-proxy.conf"))) {
            dir = dir.getParent();
        }
        assertThat(dir).as("conf/canary-proxy.conf above " + Path.of("").toAbsolutePath()).isNotNull();
        return dir.resolve("conf/canary-proxy.conf");
    }

    @Test
    void theDefaultConfigLoads() {
        ProxyConfig config = ConfigLoader.load(shipped(), Map.of(), new Properties());

        assertThat(config.releases()).containsOnlyKeys("blue", "green");
        assertThat(config.release("blue").endpoints()).singleElement().asString()
                .isEqualTo("unix:/run/app/blue.sock");
        assertThat(config.release("green").endpoints()).singleElement().asString().isEqualTo("127.0.0.1:8001");
        assertThat(config.routing().stable()).isEqualTo("blue");
        assertThat(config.routing().servedByHeader()).as("off in production").isFalse();
        assertThat(config.upstream().poolIdleTimeout()).isLessThan(java.time.Duration.ofSeconds(2));
        assertThat(config.admin().listen().host()).isEqualTo("127.0.0.1");
    }
}
