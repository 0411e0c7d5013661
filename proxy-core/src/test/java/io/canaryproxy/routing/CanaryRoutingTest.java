package io.canaryproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A manual canary through the real listener: cookies, release headers, promote and rollback. */
class CanaryRoutingTest {

    private CountingBackend blue;
    private CountingBackend green;
    private CanaryProxy proxy;

    @BeforeEach
    void start() throws Exception {
        blue = new CountingBackend();
        green = new CountingBackend();
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing { stable = blue, served-by-header = on, sticky-cookie.max-age = 1d }
                  health-check.interval = 0
                  trusted-proxies = ["127.0.0.1"]
                }
                """.formatted(blue.endpoint(), green.endpoint())));
    }

    @AfterEach
    void stop() throws Exception {
        proxy.close();
        blue.close();
        green.close();
    }

    @Test
    void aCanaryAtFullWeightGetsEveryoneAndTheBucketCookieIsSetOnce() throws Exception {
        proxy.setCanary("green", 100, false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response first = client.get("/");
            assertThat(first.header("X-Served-By")).isEqualTo("green");
            String cookie = first.header("Set-Cookie");
            assertThat(cookie).matches("cp_bucket=\\d{1,4}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax");

            RawHttpClient.Response again = client.get("/", Map.of("Cookie", cookie.substring(0, cookie.indexOf(';'))));
            assertThat(again.header("X-Served-By")).isEqualTo("green");
            assertThat(again.header("Set-Cookie")).as("set once").isNull();
        }
    }

    @Test
    void theCookieIsSecureWhenATrustedProxySaysTheClientCameOverTls() throws Exception {
        proxy.setCanary("green", 50, false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            String cookie = client.get("/", Map.of("X-Forwarded-Proto", "https")).header("Set-Cookie");
            assertThat(cookie).endsWith("; Secure");
        }
    }

    @Test
    void promoteAndRollbackEndTheCanary() throws Exception {
        proxy.setCanary("green", 0.01, false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/", Map.of("X-Canary", "always")).header("X-Served-By")).isEqualTo("green");
            assertThat(client.get("/", Map.of("Cookie", "cp_bucket=9999")).header("X-Served-By")).isEqualTo("blue");

            proxy.rollback();
            assertThat(proxy.routes().canary()).isNull();
            assertThat(client.get("/", Map.of("X-Canary", "always")).header("X-Served-By")).isEqualTo("blue");

            proxy.setCanary("green", 5, false);
            proxy.promote();
            assertThat(proxy.routes().stable()).isEqualTo("green");
            assertThat(client.get("/", Map.of("X-Canary", "never")).header("X-Served-By")).isEqualTo("green");
        }
        assertThatThrownBy(() -> proxy.promote()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> proxy.setCanary("green", 5, false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("stable");
        assertThatThrownBy(() -> proxy.setCanary("blue", 150, false)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> proxy.setCanary("purple", 5, false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("purple");
    }
}
