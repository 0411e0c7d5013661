package io.canaryproxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.config.AnalysisConfig;
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
                "release green: static files added: /static/ from /srv/green/static",
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
                proxy.upstream.max-response-buffer = 256m
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
                "proxy.upstream.max-response-buffer: 1g -> 256m",
                "proxy.limits.max-body-size: 50m -> 1m");
    }

    @Test
    void aStaticRootThatMovesIsNamedOldAndNew() {
        ProxyConfig before = config("proxy.releases.green.static { prefix = \"/static/\", root = \"/srv/g1\" }");
        ProxyConfig after = config("proxy.releases.green.static { prefix = \"/assets/\", root = \"/srv/g2\" }");

        assertThat(ConfigChanges.applied(before, after)).containsExactly(
                "release green: static prefix /static/ -> /assets/, static root /srv/g1 -> /srv/g2");
        assertThat(ConfigChanges.applied(after, config(""))).containsExactly(
                "release green: static files removed: /assets/ from /srv/g2");
    }

    @Test
    void staticFileSettingsAreReportedAndSaidAsInTheFile() {
        ProxyConfig after = config("""
                proxy.static-files { cache-control = "no-store", cache-max-bytes = 32m }
                """);

        assertThat(ConfigChanges.applied(config(""), after)).containsExactly(
                "proxy.static-files.cache-max-bytes: 16m -> 32m",
                "proxy.static-files.cache-control: public, max-age=3600 -> no-store");
    }

    /** Percentages as the file says them, keys as the file names them, webhooks without their URL's secret part. */
    @Test
    void analysisSettingsAreSaidAsInTheFile() {
        ProxyConfig before = config("""
                proxy.analysis.webhooks = [{ name = ops, url = "https://hooks.example.com/T0/B1/secret" }]
                """);
        ProxyConfig after = config("""
                proxy.analysis {
                  steps = [2.5, 50, 100], confidence = 95, max-error-rate = 5, min-effect-size = 0.7
                  on-failure = pause
                  webhooks = [{ name = ops, url = "https://hooks.example.com/T0/B1/secret", events = [rolled-back],
                                timeout = 2s }]
                }
                """);

        assertThat(ConfigChanges.between("proxy.analysis", AnalysisConfig.from(before.source()),
                AnalysisConfig.from(after.source()))).containsExactly(
                "proxy.analysis.steps: [1, 5, 10, 25, 50, 100] -> [2.5, 50, 100]",
                "proxy.analysis.confidence: 99 -> 95",
                "proxy.analysis.max-error-rate: 1 -> 5",
                "proxy.analysis.min-effect-size: 0.65 -> 0.7",
                "proxy.analysis.on-failure: rollback -> pause",
                "proxy.analysis.webhooks: [{ name = ops, url = https://hooks.example.com/…, events = [], timeout = 5s }]"
                        + " -> [{ name = ops, url = https://hooks.example.com/…, events = [rolled-back], timeout = 2s }]");
    }

    @Test
    void aChangeOnlyInAWebhooksSecretPathIsReportedWithoutIt() {
        ProxyConfig before = config("proxy.analysis.webhooks = [{ url = \"https://hooks.example.com/old-secret\" }]");
        ProxyConfig after = config("proxy.analysis.webhooks = [{ url = \"https://hooks.example.com/new-secret\" }]");

        assertThat(ConfigChanges.between("proxy.analysis", AnalysisConfig.from(before.source()),
                AnalysisConfig.from(after.source()))).containsExactly(
                "proxy.analysis.webhooks changed (in what is not shown)");
    }

    @Test
    void whatNeedsARestartIsNamedWithoutTheToken() {
        ProxyConfig before = config("");
        ProxyConfig after = config("proxy.admin.token = \"n3w\"\nproxy.listen = \"127.0.0.1:9\"");

        assertThat(ConfigChanges.needingRestart(before, after)).containsExactly(
                "proxy.listen changed from " + before.listen() + " to 127.0.0.1:9, which needs a restart",
                "proxy.admin.token changed, which needs a restart");
    }

    /** A state file turned on or off by a reload is refused as any other restart-only change, in both directions. */
    @Test
    void aStateFileTurnedOnOrOffNeedsARestart() {
        ProxyConfig off = config("proxy.state-file = \"\"");
        ProxyConfig on = config("proxy.state-file = \"/var/lib/canary-proxy/state.json\"");

        assertThat(ConfigChanges.needingRestart(off, on)).containsExactly("proxy.state-file changed from none to "
                + on.stateFile() + ", which needs a restart");
        assertThat(ConfigChanges.needingRestart(on, off)).containsExactly("proxy.state-file changed from "
                + on.stateFile() + " to none, which needs a restart");
    }
}
