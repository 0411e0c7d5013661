package io.canaryproxy.testing;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;

/** Configs for tests: an ephemeral loopback port, two event loops, no state file, plus what the test adds. */
public final class TestConfigs {

    private static final String BASE = """
            proxy {
              listen = "127.0.0.1:0"
              threads = 2
              state-file = ""
              admin.listen = "127.0.0.1:0"
            }
            """;

    private TestConfigs() {
    }

    /** {@code hocon} over the test base, e.g. {@code proxy.releases.blue.endpoints = ["127.0.0.1:8001"]}. */
    public static ProxyConfig parse(String hocon) {
        return ConfigLoader.fromConfig(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.parseString(BASE)));
    }

    /** One release "blue" at {@code endpoint}, stable, with health checks off. */
    public static ProxyConfig single(String endpoint, String extra) {
        return parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  routing.stable = blue
                  health-check.interval = 0
                }
                %s
                """.formatted(endpoint, extra));
    }
}
