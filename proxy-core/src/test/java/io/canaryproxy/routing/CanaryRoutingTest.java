package io.canaryproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.CountingBackend;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.TestConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
            // A list: the first entry was written on the client's side.
            assertThat(client.get("/", Map.of("X-Forwarded-Proto", "https, http")).header("Set-Cookie"))
                    .endsWith("; Secure");
            assertThat(client.get("/", Map.of("X-Forwarded-Proto", "http, https")).header("Set-Cookie"))
                    .doesNotContain("Secure");
        }
    }

    @Test
    void behindATrustedProxyNewUsersAreRoutedByTheForwardedAddress() throws Exception {
        proxy.setCanary("green", 50, false);
        Map<String, String> servedBy = new HashMap<>();
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (int i = 1; i <= 40; i++) {
                String user = "203.0.113." + i;
                RawHttpClient.Response r = client.get("/", Map.of("X-Forwarded-For", user));
                servedBy.put(user, r.header("X-Served-By"));
                int bucket = Integer.parseInt(r.header("Set-Cookie").replaceAll("cp_bucket=(\\d+);.*", "$1"));
                assertThat(bucket < 5000).as("%s's cookie keeps its side", user).isEqualTo(r.header("X-Served-By")
                        .equals("green"));
            }
            // The connection's peer is the balancer for all of them; their own addresses spread them.
            assertThat(servedBy.values()).contains("blue", "green");
            // Entries of trusted proxies on the right are skipped; a port, as some balancers add, is ignored.
            for (String user : new String[] {"203.0.113.1", "203.0.113.2", "203.0.113.3"}) {
                assertThat(client.get("/", Map.of("X-Forwarded-For", "198.51.100.9, " + user + ", 127.0.0.1"))
                        .header("X-Served-By")).isEqualTo(servedBy.get(user));
                assertThat(client.get("/", Map.of("X-Forwarded-For", user + ":51234")).header("X-Served-By"))
                        .isEqualTo(servedBy.get(user));
            }
        }
    }

    @Test
    void aBucketInASecondCookieHeaderIsFoundAndKept() throws Exception {
        proxy.setCanary("green", 50, false);
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            for (String bucket : new String[] {"0", "9999"}) {
                RawHttpClient.Response r = client.sendRaw(("GET / HTTP/1.1\r\nHost: test\r\nCookie: a=1\r\n"
                        + "Cookie: cp_bucket=" + bucket + "; b=2\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                assertThat(r.header("X-Served-By")).isEqualTo(bucket.equals("0") ? "green" : "blue");
                assertThat(r.header("Set-Cookie")).as("the user's bucket is not replaced").isNull();
            }
        }
    }

    @Test
    void aPinInASecondCookieHeaderCounts() throws Exception {
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            RawHttpClient.Response r = client.sendRaw(("GET / HTTP/1.1\r\nHost: test\r\nCookie: a=1\r\n"
                    + "Cookie: cp_release=green\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(r.header("X-Served-By")).isEqualTo("green");
        }
    }

    /** DESIGN: "a release with no healthy endpoint gets no new traffic". */
    @Test
    void usersOfACanaryThatCannotServeGetTheStableReleaseAndKeepTheirBucket(@TempDir Path dir) throws Exception {
        // A socket file that is not there: no other process can answer in its place, as one could on a freed port.
        try (CanaryProxy gone = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["unix:%s"]
                  routing { stable = blue, served-by-header = on }
                  health-check.interval = 0
                }
                """.formatted(blue.endpoint(), dir.resolve("green.sock"))));
             RawHttpClient client = new RawHttpClient(gone.listenAddress())) {
            gone.setCanary("green", 50, true);
            // Each request finds green gone; it reached no upstream, so blue takes it.
            for (int i = 0; i < 3; i++) {
                RawHttpClient.Response r = client.get("/", Map.of("Cookie", "cp_bucket=0"));
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.header("X-Served-By")).isEqualTo("blue");
                assertThat(r.header("Set-Cookie")).as("the user keeps the bucket").isNull();
            }
            RawHttpClient.Response pinned = client.get("/", Map.of("X-Canary", "always"));
            assertThat(pinned.status()).as("a tester asked for green").isEqualTo(502);
            assertThat(pinned.header("X-Served-By")).as("the release that failed").isEqualTo("green");
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
