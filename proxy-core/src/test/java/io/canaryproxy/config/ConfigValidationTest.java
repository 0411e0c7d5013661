package io.canaryproxy.config;

import static io.canaryproxy.config.ConfigLoaderTest.MINIMAL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each bad value is refused with a message naming the key, the value and what was expected. */
class ConfigValidationTest {

    /** Loads {@link ConfigLoaderTest#MINIMAL} plus {@code extra}, which overrides it. */
    private static ProxyConfig load(String extra) {
        return ConfigLoader.fromConfig(ConfigFactory.parseString(MINIMAL + "\n" + extra));
    }

    private static String error(String extra) {
        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> load(extra));
        assertThat(thrown).as(extra).isInstanceOf(ConfigException.class);
        return thrown.getMessage();
    }

    @Test
    void theMinimalConfigIsValid() {
        assertThat(load("").routing().stable()).isEqualTo("blue");
    }

    @ParameterizedTest(name = "{0} = {1}")
    @CsvSource(delimiter = '|', textBlock = """
            proxy.threads                   | many      | "many"     | a whole number
            proxy.threads                   | 2.5       | 2.5        | a whole number
            proxy.threads                   | -1        | -1         | a whole number from 0 to 1024
            proxy.threads                   | 100000000 | 100000000  | a whole number from 0 to 1024
            proxy.threads                   | null      | null       | a whole number
            proxy.threads                   | [1]       | [1]        | a whole number
            proxy.threads                   | 3000000000 | 3000000000 | a whole number
            proxy.transport                 | iouring   | "iouring"  | one of auto, epoll, io_uring, nio
            proxy.transport                 | 1         | 1          | one of auto, epoll, io_uring, nio
            proxy.health-check.rise         | 0         | 0          | a whole number, at least 1
            proxy.health-check.fall         | -3        | -3         | a whole number, at least 1
            proxy.health-check.rise         | 1000000000000 | 1000000000000 | a whole number from 1 to 2147483647
            proxy.upstream.max-connections  | 0         | 0          | a whole number, at least 1
            proxy.upstream.max-idle-connections | 0     | 0          | a whole number, at least 1
            proxy.upstream.max-retries      | -1        | -1         | a whole number, at least 0
            proxy.upstream.eject-after      | 0         | 0          | a whole number, at least 1
            proxy.upstream.connect-timeout  | soon      | "soon"     | a duration such as 2s or 500ms
            proxy.upstream.connect-timeout  | 10x       | "10x"      | a duration such as 2s or 500ms
            proxy.upstream.connect-timeout  | 5         | 5          | a duration such as 2s or 500ms
            proxy.upstream.connect-timeout  | "5"       | "5"        | a duration such as 2s or 500ms
            proxy.upstream.connect-timeout  | 0s        | "0s"       | a duration such as 2s or 500ms, greater than 0
            proxy.upstream.response-timeout | -1s       | "-1s"      | a duration such as 2s or 500ms
            proxy.upstream.pool-idle-timeout | true     | true       | a duration such as 2s or 500ms
            proxy.upstream.eject-duration   | 0         | 0          | a duration such as 2s or 500ms
            proxy.health-check.interval     | -2s       | "-2s"      | a duration such as 2s or 500ms
            proxy.health-check.timeout      | 0ms       | "0ms"      | a duration such as 2s or 500ms
            proxy.limits.header-read-timeout | 0        | 0          | a duration such as 2s or 500ms
            proxy.limits.client-idle-timeout | forever  | "forever"  | a duration such as 2s or 500ms
            proxy.drain.timeout             | -1s       | "-1s"      | a duration such as 2s or 500ms, 0 or more
            proxy.upstream.response-timeout | 1000000d  | "1000000d" | a duration such as 2s or 500ms, at most 106751d
            proxy.analysis.cooldown         | 1000000d  | "1000000d" | a duration such as 30s, at most 106751d
            proxy.routing.sticky-cookie.name | cp_release | "cp_release" | a name other than cp_release, the cookie that pins a release
            proxy.routing.sticky-cookie.max-age | 500ms | "500ms"    | whole seconds from 1s to 400d, such as 30d
            proxy.routing.sticky-cookie.max-age | 1500ms | "1500ms"  | whole seconds from 1s to 400d, such as 30d
            proxy.routing.sticky-cookie.max-age | 1000d | "1000d"    | whole seconds from 1s to 400d, such as 30d
            proxy.routing.sticky-cookie.max-age | soon  | "soon"     | a duration such as 2s or 500ms; here whole seconds
            proxy.limits.max-header-size    | lots      | "lots"     | a size such as 16k or 50m
            proxy.limits.max-header-size    | 0         | 0          | a size such as 16k or 50m, at least 1k
            proxy.limits.max-header-size    | 8         | 8          | a size such as 16k or 50m, at least 1k
            proxy.limits.max-initial-line   | 10        | 10         | a size such as 16k or 50m, at least 256
            proxy.limits.max-header-size    | 3g        | "3g"       | at most 2147483647 bytes
            proxy.limits.max-initial-line   | -8k       | "-8k"      | a size such as 16k or 50m
            proxy.limits.max-body-size      | 0         | 0          | a size such as 16k or 50m, greater than 0
            proxy.limits.max-body-size      | 1.5x      | "1.5x"     | a size such as 16k or 50m
            proxy.upstream.max-response-buffer | -1m  | "-1m"      | a size such as 16k or 50m, or 0 for none
            proxy.upstream.max-response-buffer | lots | "lots"     | a size such as 16k or 50m, or 0 for none
            proxy.limits.body-temp-dir      | /nonexistent/spool | "/nonexistent/spool" | a directory that exists and the proxy may write to
            proxy.limits.body-temp-dir      | [a]       | ["a"]      | a string
            proxy.routing.weight            | 101       | 101        | a percentage from 0 to 100
            proxy.routing.weight            | -1        | -1         | a percentage from 0 to 100
            proxy.routing.weight            | half      | "half"     | a percentage from 0 to 100
            proxy.routing.weight            | 12.345    | 12.345     | a percentage with at most 2 decimals
            proxy.routing.overrides         | maybe     | "maybe"    | on or off
            proxy.routing.served-by-header  | 1         | 1          | on or off
            proxy.routing.sticky-cookie.name | "cp bucket" | "cp bucket" | a cookie name
            proxy.routing.sticky-cookie.name | "a;b"    | "a;b"      | a cookie name
            proxy.health-check.path         | healthz   | "healthz"  | a URL path starting with /
            proxy.health-check.path         | "/santé"  | "/santé"   | a URL path starting with /, in printable ASCII
            proxy.admin.token               | {a = 1}   | {"a":1}    | a string
            proxy.trusted-proxies           | 5         | 5          | a list of IP addresses or CIDR ranges
            proxy.trusted-proxies[0]        | ["10.0.0.300"] | "10.0.0.300" | an IP address or CIDR range
            proxy.trusted-proxies[1]        | ["10.0.0.1", "10.0.0.0/33"] | "10.0.0.0/33" | an IP address or CIDR range
            proxy.trusted-proxies[0]        | ["proxy.example.com"] | "proxy.example.com" | an IP address or CIDR range
            proxy.static-files.cache-max-bytes | 0     | 0          | a size such as 16k or 50m, greater than 0
            proxy.static-files.cache-max-bytes | lots  | "lots"     | a size such as 16k or 50m
            proxy.static-files.small-file-max | 3g     | "3g"       | at most 2147483647 bytes
            proxy.static-files.small-file-max | 32m    | "32m"      | at most proxy.static-files.cache-max-bytes = "16m"
            proxy.static-files.cache-control | "a\\nSet-Cookie: x=1" | "a\\nSet-Cookie: x=1" | a header value of printable ASCII
            proxy.static-files.cache-control | "max-age=é" | "max-age=é" | a header value of printable ASCII
            """)
    void aBadValueIsRefusedNamingKeyValueAndExpectation(String key, String text, String rendered, String expected) {
        String setting = key.replaceAll("\\[\\d+]$", "") + " = " + text;
        assertThat(error(setting))
                .startsWith(key + " = " + rendered + ": expected ")
                .contains(expected);
    }

    @Test
    void aWholeNumberMessageMatchesTheDocumentedForm() {
        assertThat(error("proxy.threads = \"many\""))
                .isEqualTo("proxy.threads = \"many\": expected a whole number from 0 to 1024 (0 = one per core)");
    }

    @Test
    void aListenAddressMustBeHostAndPort() {
        assertThat(error("proxy.listen = \"localhost\""))
                .isEqualTo("proxy.listen = \"localhost\": expected host:port, e.g. 127.0.0.1:8080");
        assertThat(error("proxy.listen = \"localhost:http\""))
                .isEqualTo("proxy.listen = \"localhost:http\": port is not a number");
        assertThat(error("proxy.admin.listen = \"127.0.0.1:70000\""))
                .isEqualTo("proxy.admin.listen = \"127.0.0.1:70000\": port must be between 0 and 65535");
        assertThat(error("proxy.listen = \"::1:8080\""))
                .isEqualTo("proxy.listen = \"::1:8080\": an IPv6 host must be written in brackets, e.g. [::1]:8080");
    }

    @Test
    void badEndpointsNameTheReleaseAndIndex() {
        assertThat(error("proxy.releases.green.endpoints = [\"127.0.0.1:8001\", \"http://127.0.0.1:8002\"]"))
                .isEqualTo("proxy.releases.green.endpoints[1] = \"http://127.0.0.1:8002\": "
                        + "expected host:port without a scheme, e.g. 127.0.0.1:8080");
        assertThat(error("proxy.releases.green.endpoints = [\"unix:\"]"))
                .isEqualTo("proxy.releases.green.endpoints[0] = \"unix:\": expected unix:/path/to/socket");
        assertThat(error("proxy.releases.green.endpoints = [\"unix:run/green.sock\"]"))
                .startsWith("proxy.releases.green.endpoints[0] = \"unix:run/green.sock\": expected an absolute path"
                        + " such as unix:/run/app/run/green.sock");
        String longPath = "/run/" + "x".repeat(100) + ".sock";
        assertThat(error("proxy.releases.green.endpoints = [\"unix:" + longPath + "\"]"))
                .isEqualTo("proxy.releases.green.endpoints[0] = \"unix:" + longPath + "\": a socket path of at most"
                        + " 107 bytes (the kernel's limit for a Unix socket address), not 110");
        assertThat(error("proxy.releases.green.endpoints = [\"/run/green.sock\"]"))
                .contains("proxy.releases.green.endpoints[0] = \"/run/green.sock\"", "unix:/run/green.sock");
        assertThat(error("proxy.releases.green.endpoints = [\"127.0.0.1:0\"]"))
                .contains("proxy.releases.green.endpoints[0] = \"127.0.0.1:0\"", "a port between 1 and 65535");
        assertThat(error("proxy.releases.green.endpoints = [\"127.0.0.1:8001\", \"127.0.0.1:8001\"]"))
                .contains("proxy.releases.green.endpoints[1] = \"127.0.0.1:8001\"", "listed once");
        assertThat(error("proxy.releases.green.endpoints = [8001]"))
                .contains("proxy.releases.green.endpoints[0] = 8001", "an endpoint such as");
        assertThat(error("proxy.releases.green.endpoints = {a = 1}"))
                .contains("proxy.releases.green.endpoints = {\"a\":1}", "a list of endpoints");
    }

    /** Every problem in one go: the analysis section's are listed with the others, not after they are fixed. */
    @Test
    void analysisProblemsAreListedWithTheOthers() {
        assertThat(error("proxy { threads = -1, analysis.interval = 30, limits.max-body-size = 0 }"))
                .startsWith("3 problems in the configuration:")
                .contains("proxy.threads = -1", "proxy.limits.max-body-size = 0", "proxy.analysis.interval = 30");
        assertThat(error("proxy.analysis = 5")).startsWith("proxy.analysis = 5: expected an object with the keys")
                .doesNotContain("problems");
        assertThat(load("proxy.analysis.min-requests = 7").analysis().minRequests()).isEqualTo(7);
    }

    /** Valid, since it harms no request, but most likely a block copied and not edited. */
    @Test
    void anEndpointOfTwoReleasesIsWarnedOf() {
        assertThat(load("").warnings()).isEmpty();
        assertThat(load("proxy.releases.green.endpoints = [\"127.0.0.1:8002\", \"unix:/run/app//blue.sock\"]")
                .warnings()).containsExactly("proxy.releases.green.endpoints: unix:/run/app/blue.sock is also an"
                        + " endpoint of release blue: both releases send requests to the same processes there");
        // Written another way, the same processes all the same.
        assertThat(load("""
                proxy.releases.blue.endpoints = ["localhost:8001", "unix:/run/app/blue.sock"]
                proxy.releases.green.endpoints = ["127.0.0.1:8001", "unix:/run/app/../app/blue.sock"]
                """).warnings()).containsExactly(
                "proxy.releases.green.endpoints: 127.0.0.1:8001 is also an endpoint of release blue (as"
                        + " localhost:8001): both releases send requests to the same processes there",
                "proxy.releases.green.endpoints: unix:/run/app/../app/blue.sock is also an endpoint of release blue"
                        + " (as unix:/run/app/blue.sock): both releases send requests to the same processes there");
        assertThat(load("proxy.releases.green.endpoints = [\"127.0.0.2:8001\"]").warnings()).isEmpty();
        assertThat(load("proxy.releases.green.endpoints = [\"localhost:8002\", \"127.0.0.1:8002\"]").warnings())
                .containsExactly("proxy.releases.green.endpoints: 127.0.0.1:8002 and localhost:8002 are the same"
                        + " processes, which get twice their share of the release's requests");
    }

    @Test
    void aSingleEndpointStringIsAListOfOne() {
        assertThat(load("proxy.releases.green.endpoints = \"127.0.0.1:8005\"").release("green").endpoints())
                .containsExactly(EndpointAddress.parse("127.0.0.1:8005"));
    }

    @Test
    void aReleaseNeedsEndpoints() {
        assertThat(error("proxy.releases.green.endpoints = []"))
                .startsWith("proxy.releases.green.endpoints = []: expected at least one endpoint");
        assertThat(error("proxy.releases.red { }"))
                .startsWith("proxy.releases.red has no endpoints: expected endpoints = [");
        assertThat(error("proxy.releases.red = \"127.0.0.1:9000\""))
                .startsWith("proxy.releases.red = \"127.0.0.1:9000\": expected an object such as { endpoints");
    }

    @Test
    void thereMustBeAtLeastOneRelease() {
        String message = Raw.error(ConfigFactory.parseString("proxy.routing.stable = blue"));
        assertThat(message).startsWith("proxy.releases = {}: expected at least one release");
    }

    @Test
    void releaseNamesAreRestricted() {
        assertThat(error("proxy.releases { \"-blue\" { endpoints = [\"127.0.0.1:9000\"] } }"))
                .contains("proxy.releases.-blue: \"-blue\" is not a valid release name");
        assertThat(error("proxy.releases { \"blue green\" { endpoints = [\"127.0.0.1:9000\"] } }"))
                .contains("proxy.releases.\"blue green\": \"blue green\" is not a valid release name");
        assertThat(load("proxy.releases { \"v1.2_rc-3\" { endpoints = [\"127.0.0.1:9000\"] } }").releases())
                .containsKey("v1.2_rc-3");
    }

    @Test
    void unknownKeysInAReleaseAreErrors() {
        assertThat(error("proxy.releases.green.endpoint = [\"127.0.0.1:9000\"]"))
                .contains("unknown key proxy.releases.green.endpoint; did you mean proxy.releases.green.endpoints?");
        assertThat(error("proxy.releases.blue.static.rot = /x"))
                .contains("unknown key proxy.releases.blue.static.rot; did you mean proxy.releases.blue.static.root?");
    }

    @Test
    void staticFilesNeedAPrefixWithSlashesAndARoot() {
        assertThat(error("proxy.releases.blue.static.prefix = \"static/\""))
                .isEqualTo("proxy.releases.blue.static.prefix = \"static/\": "
                        + "expected a URL path that starts and ends with /, such as \"/static/\"");
        assertThat(error("proxy.releases.blue.static.prefix = \"/static\""))
                .startsWith("proxy.releases.blue.static.prefix = \"/static\": expected a URL path that starts and ends");
        assertThat(error("proxy.releases.green.static { prefix = \"/static/\" }"))
                .startsWith("proxy.releases.green.static.root is missing: expected a directory");
        assertThat(error("proxy.releases.green.static { root = \"/srv\" }"))
                .startsWith("proxy.releases.green.static.prefix is missing");
        assertThat(error("proxy.releases.green.static = \"/srv\""))
                .startsWith("proxy.releases.green.static = \"/srv\": expected an object");
    }

    @Test
    void staticFilesSettingsHaveDefaultsAndCanBeChanged() {
        assertThat(load("").staticFiles())
                .isEqualTo(new StaticFilesSettings(16L * 1024 * 1024, 64 * 1024, "public, max-age=3600", true));
        assertThat(load("proxy.static-files { cache-max-bytes = 1g, small-file-max = 1m, cache-control = \"\","
                + " from-other-releases = false }").staticFiles())
                .isEqualTo(new StaticFilesSettings(1024L * 1024 * 1024, 1024 * 1024, "", false));
        assertThat(error("proxy.static-files.cache-size = 1m"))
                .contains("unknown key proxy.static-files.cache-size");
    }

    @Test
    void stableAndCanaryMustNameReleases() {
        assertThat(error("proxy.routing.stable = purple"))
                .isEqualTo("proxy.routing.stable = \"purple\": expected one of the releases blue, green");
        assertThat(error("proxy.routing.stable = \"\""))
                .startsWith("proxy.routing.stable = \"\": expected the name of the release that gets all traffic")
                .contains("blue, green");
        assertThat(error("proxy.routing.canary = purple"))
                .startsWith("proxy.routing.canary = \"purple\": expected one of the releases blue, green");
        assertThat(error("proxy.routing.canary = blue"))
                .startsWith("proxy.routing.canary = \"blue\": expected a release other than the stable one");
    }

    @Test
    void aWeightNeedsACanary() {
        assertThat(error("proxy.routing.weight = 5"))
                .isEqualTo("proxy.routing.weight = 5: expected 0 while proxy.routing.canary is empty");
        RoutingConfig routing = load("proxy.routing { canary = green, weight = 100 }").routing();
        assertThat(routing.weightBasisPoints()).isEqualTo(10_000);
        assertThat(load("proxy.routing { canary = green, weight = \"0.01\" }").routing().weightBasisPoints())
                .isEqualTo(1);
    }

    @Test
    void anAdminListenerOffLoopbackNeedsAToken() {
        assertThat(error("proxy.admin.listen = \"0.0.0.0:9901\""))
                .startsWith("proxy.admin.token = \"\": expected a token, since proxy.admin.listen = \"0.0.0.0:9901\"");
        assertThat(load("proxy.admin.listen = \"[::1]:9901\"").admin().listen().host()).isEqualTo("::1");
        assertThat(load("proxy.admin.listen = \"localhost:9901\"").admin().token()).isEmpty();
    }

    /** A token no client can send would lock every mutation out until a restart; it is refused, and not shown. */
    @Test
    void anAdminTokenIsOneAClientCanSend() {
        assertThat(error("proxy.admin.token = \"p\u00e4ssw\u00f6rt\""))
                .startsWith("proxy.admin.token: expected printable ASCII without spaces")
                .contains("it has a character outside ASCII").doesNotContain("ssw");
        assertThat(error("proxy.admin.token = \"open sesame\""))
                .contains("it has a space or a control character").doesNotContain("sesame");
        assertThat(load("proxy.admin.token = \"Zm9v-YmFy_~+/=\"").admin().token()).isEqualTo("Zm9v-YmFy_~+/=");
    }

    @Test
    void theAdminListenerCannotShareThePublicOne() {
        assertThat(error("proxy { listen = \"0.0.0.0:9000\", admin.listen = \"127.0.0.1:9000\" }"))
                .startsWith("proxy.admin.listen = \"127.0.0.1:9000\": expected an address other than proxy.listen");
        assertThat(load("proxy { listen = \"127.0.0.1:0\", admin.listen = \"127.0.0.1:0\" }").listen().port())
                .isZero();
    }

    @Test
    void aHealthCheckTimeoutMustFitTheInterval() {
        assertThat(error("proxy.health-check { interval = 1s, timeout = 2s }"))
                .isEqualTo("proxy.health-check.timeout = \"2s\": expected a duration such as 2s or 500ms, "
                        + "at most proxy.health-check.interval = \"1s\"");
        HealthCheckConfig off = load("proxy.health-check { interval = 0, timeout = 2s }").healthCheck();
        assertThat(off.enabled()).isFalse();
        assertThat(off.timeout()).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void aSectionThatIsNotAnObjectIsRefused() {
        assertThat(error("proxy.upstream = 5"))
                .isEqualTo("proxy.upstream = 5: expected an object with the keys connect-timeout, eject-after, "
                        + "eject-duration, max-connections, max-idle-connections, max-response-buffer, max-retries,"
                        + " pool-idle-timeout,"
                        + " response-timeout");
        assertThat(error("proxy.releases = [blue]"))
                .startsWith("proxy.releases = [\"blue\"]: expected an object holding releases");
    }

    @Test
    void unknownKeysAreErrors() {
        assertThat(error("proxy.listne = \"0.0.0.0:80\""))
                .isEqualTo("unknown key proxy.listne; did you mean proxy.listen?");
        assertThat(error("proxy.routing.sticky-cookie.domain = example.com"))
                .isEqualTo("unknown key proxy.routing.sticky-cookie.domain");
        assertThat(error("proxy.tls { cert = x }")).isEqualTo("unknown key proxy.tls");
    }

    /** A misspelt on-failure would roll back instead of pausing; a misspelt events would send every event. */
    @Test
    void unknownKeysUnderAnalysisAndItsWebhooksAreErrorsToo() {
        assertThat(error("proxy.analysis.on-falure = pause"))
                .isEqualTo("unknown key proxy.analysis.on-falure; did you mean proxy.analysis.on-failure?");
        assertThat(error("proxy.analysis.webhooks = [{ url = \"https://example.com/hook\", evnts = [step] }]"))
                .isEqualTo("unknown key proxy.analysis.webhooks[0].evnts; did you mean"
                        + " proxy.analysis.webhooks[0].events?");
        assertThat(error("proxy.analysis = x")).startsWith("proxy.analysis = \"x\": expected an object with the keys ");
        // Its values are checked with the rest (AnalysisConfigTest has the cases).
        assertThat(error("proxy.analysis { webhooks = [\"http://x\"], steps = [50, 100] }"))
                .startsWith("proxy.analysis.webhooks = [\"http://x\"]: expected a list of webhooks");
        assertThat(load("proxy.analysis.steps = [50, 100]").analysis().steps()).containsExactly(50.0, 100.0);
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        String message = error("proxy { threads = many, upstream.max-retries = -1, routing.stable = purple, typo = 1 }");
        assertThat(message)
                .startsWith("4 problems in the configuration:\n")
                .contains("unknown key proxy.typo", "proxy.threads = \"many\"", "proxy.upstream.max-retries = -1",
                        "proxy.routing.stable = \"purple\"");
    }

    @Test
    void stringsAcceptedWhereTypesafeConvertsThem() {
        ProxyConfig config = load("""
                proxy {
                  threads = "6"
                  routing { canary = green, weight = "33.3", served-by-header = "on" }
                  limits.max-body-size = 1048576
                  upstream.connect-timeout = "0.5s"
                  admin.token = 12345
                }
                """);
        assertThat(config.threads()).isEqualTo(6);
        assertThat(config.routing().weightBasisPoints()).isEqualTo(3330);
        assertThat(config.routing().servedByHeader()).isTrue();
        assertThat(config.limits().maxBodySize()).isEqualTo(1_048_576L);
        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(config.admin().token()).isEqualTo("12345");
    }

    /** For configs that do not start from {@link ConfigLoaderTest#MINIMAL}. */
    private static final class Raw {
        static String error(com.typesafe.config.Config config) {
            Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> ConfigLoader.fromConfig(config));
            assertThat(thrown).isInstanceOf(ConfigException.class);
            return thrown.getMessage();
        }
    }
}
