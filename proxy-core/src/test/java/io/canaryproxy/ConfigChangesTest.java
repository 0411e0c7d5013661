package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.TestConfigs;
import org.junit.jupiter.api.Test;

/** What a reload reports: the settings that changed, old and new, and never a token. */
class ConfigChangesTest {

    private static ProxyConfig config(String extra) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:8001"]
                  releases.green.endpoints = ["127.0.0.1:8002"]
                  routing.stable = blue
                  admin.token = "s3cret"
                }
                %s
                """.formatted(extra));
    }

    @Test
    void onlyTheSettingsThatChangedAreNamed() {
        ProxyConfig before = config("");
        ProxyConfig after = config("""
                proxy.routing { served-by-header = on, sticky-cookie.max-age = 1d }
                proxy.upstream.response-timeout = 1500ms
                proxy.releases.green.static { prefix = "/static/", root = "/srv/green/static" }
                """);

        assertThat(ConfigChanges.applied(before, after)).containsExactly(
                "release green: static files added",
                "proxy.routing.sticky-cookie.max-age: 30d -> 1d",
                "proxy.routing.served-by-header: false -> true",
                "proxy.upstream.response-timeout: 1m -> 1500ms");
    }

    @Test
    void settingsAreNamedByTheirKeysInTheFile() {
        ProxyConfig before = config("");
        ProxyConfig after = config("""
                proxy.routing { canary = green, weight = 12.5, sticky-cookie.name = "bucket" }
                proxy.upstream.max-idle-connections = 3
                proxy.health-check.fall = 5
                proxy.limits.max-body-size = 1m
                """);

        assertThat(ConfigChanges.applied(before, after)).containsExactly(
                "proxy.routing.canary: none -> green (not applied to traffic: the route table moves by /switch and"
                        + " /canary only)",
                "proxy.routing.weight: 0 -> 12.5 (not applied to traffic: the route table moves by /switch and"
                        + " /canary only)",
                "proxy.routing.sticky-cookie.name: cp_bucket -> bucket",
                "proxy.health-check.fall: 3 -> 5",
                "proxy.upstream.max-idle-connections: "
                        + before.upstream().maxIdleConnections() + " -> 3",
                "proxy.limits.max-body-size: 50m -> 1m");
    }

    @Test
    void whatNeedsARestartIsNamedWithoutTheToken() {
        ProxyConfig before = config("");
        ProxyConfig after = config("proxy.admin.token = \"n3w\"\nproxy.listen = \"127.0.0.1:9\"");

        assertThat(ConfigChanges.needingRestart(before, after)).containsExactly(
                "proxy.listen changed from " + before.listen() + " to 127.0.0.1:9, which needs a restart",
                "proxy.admin.token changed, which needs a restart");
    }
}
