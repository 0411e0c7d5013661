package io.canaryproxy.testing;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.TransportChoice;
import io.canaryproxy.listener.Transport;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;

/**
 * Configs for tests: an ephemeral loopback port, two event loops, no state file, plus what the test adds.
 *
 * <p>The system property {@value #TRANSPORT_PROPERTY} (e.g. {@code io_uring}) runs every proxy of the suite on that
 * transport unless the test names one; where that transport cannot run, the tests are skipped, not failed.
 */
public final class TestConfigs {

    public static final String TRANSPORT_PROPERTY = "canaryproxy.test.transport";

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
        String base = BASE;
        String forced = System.getProperty(TRANSPORT_PROPERTY, "");
        if (!forced.isEmpty()) {
            Transport transport = Transport.valueOf(forced.toUpperCase(Locale.ROOT));
            Assumptions.assumeTrue(transport.isAvailable(), forced + " is not available here");
            base += "proxy.transport = " + TransportChoice.valueOf(transport.name()) + "\n";
        }
        return ConfigLoader.fromConfig(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.parseString(base)));
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
