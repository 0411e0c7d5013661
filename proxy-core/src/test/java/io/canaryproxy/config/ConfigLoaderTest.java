package io.canaryproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.testing.Captured;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    /** The least a config file must say: the releases and which one is stable. */
    static final String MINIMAL = """
            proxy {
              releases {
                blue { endpoints = ["unix:/run/app/blue.sock"], static { prefix = "/static/", root = "/srv/app/blue/static" } }
                green { endpoints = ["127.0.0.1:8001"] }
              }
              routing.stable = blue
            }
            """;

    private static final Properties NO_PROPERTIES = new Properties();

    @TempDir
    Path dir;

    private Path write(String text) throws IOException {
        Path file = dir.resolve("canary-proxy.conf");
        Files.writeString(file, text);
        return file;
    }

    @Test
    void defaultsFillInEverythingTheFileDoesNotSay() throws IOException {
        ProxyConfig config = ConfigLoader.load(write(MINIMAL), Map.of(), NO_PROPERTIES);

        assertThat(config.listen()).isEqualTo(new HostPort("0.0.0.0", 8080));
        assertThat(config.threads()).isEqualTo(Runtime.getRuntime().availableProcessors()).isPositive();
        assertThat(config.transport()).isEqualTo(TransportChoice.AUTO);
        assertThat(config.trustedProxies()).isEmpty();
        assertThat(config.admin()).isEqualTo(new AdminConfig(new HostPort("127.0.0.1", 9901), ""));
        assertThat(config.stateFile()).isEqualTo(Path.of("var/canary-proxy.state.json"));

        assertThat(config.releases()).containsOnlyKeys("blue", "green");
        ReleaseConfig blue = config.release("blue");
        assertThat(blue.endpoints()).containsExactly(new EndpointAddress(null, Path.of("/run/app/blue.sock")));
        assertThat(blue.staticFiles()).isEqualTo(new StaticFilesConfig("/static/", Path.of("/srv/app/blue/static")));
        ReleaseConfig green = config.release("green");
        assertThat(green.endpoints()).containsExactly(new EndpointAddress(new HostPort("127.0.0.1", 8001), null));
        assertThat(green.staticFiles()).isNull();

        assertThat(config.routing()).isEqualTo(
                new RoutingConfig("blue", null, 0, "cp_bucket", Duration.ofDays(30), true, false));
        assertThat(config.healthCheck()).isEqualTo(
                new HealthCheckConfig("/healthz", Duration.ofSeconds(2), Duration.ofSeconds(1), 2, 3));
        assertThat(config.healthCheck().enabled()).isTrue();
        assertThat(config.upstream()).isEqualTo(new UpstreamConfig(Duration.ofSeconds(2), Duration.ofSeconds(60),
                Duration.ofSeconds(1), 1024, 64, 2, 3, Duration.ofSeconds(10), 1024L * 1024 * 1024));
        assertThat(config.limits()).isEqualTo(new LimitsConfig(16 * 1024, 8 * 1024, 50L * 1024 * 1024,
                Duration.ofSeconds(10), Duration.ofSeconds(75), Path.of("/var/tmp")));
        assertThat(config.drain()).isEqualTo(new DrainConfig(Duration.ofSeconds(30)));
        assertThat(config.staticFiles())
                .isEqualTo(new StaticFilesSettings(16L * 1024 * 1024, 64 * 1024, "public, max-age=3600", true));
    }

    @Test
    void sourceIsTheResolvedProxySubtreeIncludingAnalysisDefaults() throws IOException {
        ProxyConfig config = ConfigLoader.load(write(MINIMAL + "proxy.analysis.min-requests = 500\n"),
                Map.of(), NO_PROPERTIES);

        assertThat(config.source().getDuration("analysis.interval")).isEqualTo(Duration.ofSeconds(30));
        assertThat(config.source().getIntList("analysis.steps")).containsExactly(1, 5, 10, 25, 50, 100);
        assertThat(config.source().getInt("analysis.min-requests")).isEqualTo(500);
        assertThat(config.source().getInt("analysis.failure-limit")).isEqualTo(2);
        assertThat(config.source().getString("routing.stable")).isEqualTo("blue");
    }

    @Test
    void theFileOverridesDefaults() throws IOException {
        ProxyConfig config = ConfigLoader.load(write(MINIMAL + """
                proxy {
                  listen = "[::]:80"
                  threads = 3
                  transport = IO_URING
                  trusted-proxies = ["10.0.0.1", "192.168.0.0/16", "::1"]
                  admin { listen = "10.0.0.5:9901", token = s3cret }
                  state-file = ""
                  routing { canary = green, weight = 12.34, overrides = off, served-by-header = yes }
                  routing.sticky-cookie { name = bucket, max-age = 1h }
                  health-check { path = /ready, interval = 0 }
                  upstream { connect-timeout = 500ms, max-retries = 0 }
                  limits { max-header-size = 32k, max-initial-line = 4096, max-body-size = 1g, body-temp-dir = "%s" }
                  drain.timeout = 0s
                }
                """.formatted(dir)), Map.of(), NO_PROPERTIES);

        assertThat(config.listen()).isEqualTo(new HostPort("::", 80));
        assertThat(config.threads()).isEqualTo(3);
        assertThat(config.transport()).isEqualTo(TransportChoice.IO_URING);
        assertThat(config.trustedProxies()).containsExactly("10.0.0.1", "192.168.0.0/16", "::1");
        assertThat(config.admin()).isEqualTo(new AdminConfig(new HostPort("10.0.0.5", 9901), "s3cret"));
        assertThat(config.stateFile()).isNull();
        assertThat(config.routing()).isEqualTo(
                new RoutingConfig("blue", "green", 1234, "bucket", Duration.ofHours(1), false, true));
        assertThat(config.healthCheck().path()).isEqualTo("/ready");
        assertThat(config.healthCheck().enabled()).isFalse();
        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(config.upstream().maxRetries()).isZero();
        assertThat(config.upstream().responseTimeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(config.limits()).isEqualTo(new LimitsConfig(32 * 1024, 4096, 1024L * 1024 * 1024,
                Duration.ofSeconds(10), Duration.ofSeconds(75), dir));
        assertThat(config.drain().timeout()).isZero();
    }

    @Test
    void releasesKeepTheOrderTheFileDeclaresThem() throws IOException {
        ProxyConfig config = ConfigLoader.load(write("""
                proxy {
                  releases {
                    zeta { endpoints = ["127.0.0.1:8003"] }
                    alpha { endpoints = ["127.0.0.1:8001"] }
                    "v1.2" { endpoints = ["127.0.0.1:8002"] }
                  }
                  routing.stable = alpha
                }
                """), Map.of("CANARY_PROXY_RELEASES_ZETA_STATIC_ROOT", "/srv/zeta",
                "CANARY_PROXY_RELEASES_ZETA_STATIC_PREFIX", "/assets/"), NO_PROPERTIES);

        assertThat(new ArrayList<>(config.releases().keySet())).containsExactly("zeta", "alpha", "v1.2");
        assertThat(config.release("zeta").staticFiles())
                .isEqualTo(new StaticFilesConfig("/assets/", Path.of("/srv/zeta")));
    }

    @Test
    void environmentVariablesOverrideTheFile() throws IOException {
        Path file = write(MINIMAL + "proxy.upstream.connect-timeout = 5s\nproxy.threads = 2\n");
        Map<String, String> env = Map.of(
                "CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT", "7s",
                "CANARY_PROXY_THREADS", "4",
                "CANARY_PROXY_TRUSTED__PROXIES", "[\"10.0.0.1\", \"10.0.0.0/8\"]",
                "CANARY_PROXY_ROUTING_CANARY", "green",
                "CANARY_PROXY_ROUTING_WEIGHT", "2.5",
                "CANARY_PROXY_ROUTING_OVERRIDES", "off",
                "CANARY_PROXY_LIMITS_MAX__BODY__SIZE", "2m",
                "PATH", "/usr/bin",
                "PROXY_THREADS", "99");

        ProxyConfig config = ConfigLoader.load(file, env, NO_PROPERTIES);

        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(7));
        assertThat(config.threads()).isEqualTo(4);
        assertThat(config.trustedProxies()).containsExactly("10.0.0.1", "10.0.0.0/8");
        assertThat(config.routing().canary()).isEqualTo("green");
        assertThat(config.routing().weightBasisPoints()).isEqualTo(250);
        assertThat(config.routing().overrides()).isFalse();
        assertThat(config.limits().maxBodySize()).isEqualTo(2L * 1024 * 1024);
    }

    @Test
    void systemPropertiesOverrideEnvironmentVariablesWhichOverrideTheFile() throws IOException {
        Path file = write(MINIMAL + "proxy.upstream.connect-timeout = 5s\nproxy.listen = \"127.0.0.1:1000\"\n");
        Map<String, String> env = Map.of(
                "CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT", "7s",
                "CANARY_PROXY_LISTEN", "127.0.0.1:2000");
        Properties props = new Properties();
        props.setProperty("proxy.upstream.connect-timeout", "9s");
        props.setProperty("proxy.trusted-proxies", "[\"10.1.1.1\"]");
        props.setProperty("java.io.tmpdir", "/tmp");
        props.setProperty("proxyish", "ignored");

        ProxyConfig all = ConfigLoader.load(file, env, props);
        assertThat(all.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(9));
        assertThat(all.listen()).isEqualTo(new HostPort("127.0.0.1", 2000));
        assertThat(all.trustedProxies()).containsExactly("10.1.1.1");

        ProxyConfig noProps = ConfigLoader.load(file, env, NO_PROPERTIES);
        assertThat(noProps.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(7));

        ProxyConfig fileOnly = ConfigLoader.load(file, Map.of(), NO_PROPERTIES);
        assertThat(fileOnly.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(fileOnly.listen()).isEqualTo(new HostPort("127.0.0.1", 1000));
    }

    @Test
    void environmentVariableNamesMapToKeys() {
        assertThat(ConfigLoader.environmentVariableToKey("CANARY_PROXY_UPSTREAM_CONNECT__TIMEOUT"))
                .isEqualTo("upstream.connect-timeout");
        assertThat(ConfigLoader.environmentVariableToKey("CANARY_PROXY_RELEASES_BLUE___V2_ENDPOINTS"))
                .isEqualTo("releases.blue_v2.endpoints");
        assertThat(ConfigLoader.environmentVariableToKey("CANARY_PROXY_LISTEN")).isEqualTo("listen");
        for (String bad : List.of("CANARY_PROXY_", "CANARY_PROXY__LISTEN", "CANARY_PROXY_LISTEN_",
                "CANARY_PROXY_A____B")) {
            assertThatThrownBy(() -> ConfigLoader.environmentVariableToKey(bad))
                    .as(bad)
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("environment variable " + bad + " does not name a key");
        }
    }

    @Test
    void theVariablesOfCtlAreSkippedButTheAdminTokenIsAKey() throws IOException {
        Path file = write(MINIMAL);
        Map<String, String> env = Map.of(
                "CANARY_PROXY_ADMIN_URL", "http://127.0.0.1:9901",
                "CANARY_PROXY_TOKEN", "for-ctl",
                "CANARY_PROXY_ADMIN_TOKEN", "s3cret",
                "CANARY_PROXY_THREADS", "3");

        ProxyConfig config = ConfigLoader.load(file, env, NO_PROPERTIES);

        assertThat(ConfigLoader.NON_CONFIG_VARIABLES)
                .containsExactlyInAnyOrder("CANARY_PROXY_ADMIN_URL", "CANARY_PROXY_TOKEN");
        assertThat(config.threads()).isEqualTo(3);
        // proxy.admin.token: the proxy's own token, which ctl falls back to as well
        assertThat(config.admin().token()).isEqualTo("s3cret");
        // skipped by name only: a key under them is still unknown
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of("CANARY_PROXY_ADMIN_URL_X", "y"), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("unknown key proxy.admin.url (from environment variable"
                        + " CANARY_PROXY_ADMIN_URL_X)");
    }

    @Test
    void aBadEnvironmentVariableNameFailsTheLoad() throws IOException {
        Path file = write(MINIMAL);
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of("CANARY_PROXY_LISTEN_", "x"), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("CANARY_PROXY_LISTEN_");
    }

    @Test
    void anEnvironmentVariableWithATypoIsAnUnknownKey() throws IOException {
        Path file = write(MINIMAL);
        Map<String, String> env = Map.of("CANARY_PROXY_UPSTREAM_CONECT__TIMEOUT", "5s");
        assertThatThrownBy(() -> ConfigLoader.load(file, env, NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("unknown key proxy.upstream.conect-timeout "
                        + "(from environment variable CANARY_PROXY_UPSTREAM_CONECT__TIMEOUT); "
                        + "did you mean proxy.upstream.connect-timeout?");
    }

    @Test
    void aBadListInAnEnvironmentVariableNamesTheVariable() throws IOException {
        Path file = write(MINIMAL);
        Map<String, String> env = Map.of("CANARY_PROXY_TRUSTED__PROXIES", "[\"10.0.0.1\"");
        assertThatThrownBy(() -> ConfigLoader.load(file, env, NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("environment variable CANARY_PROXY_TRUSTED__PROXIES")
                .hasMessageContaining("expected a list");
    }

    @Test
    void aBadValueSaysWhereItCameFrom() throws IOException {
        Path file = write(MINIMAL + "proxy.threads = many\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("proxy.threads = \"many\": expected a whole number from 0 to 1024 (0 = one per core) (in "
                        + file + ":8)");

        assertThatThrownBy(() -> ConfigLoader.load(write(MINIMAL), Map.of("CANARY_PROXY_THREADS", "lots"),
                NO_PROPERTIES))
                .hasMessageContaining("proxy.threads = \"lots\"")
                .hasMessageContaining("(from environment variable CANARY_PROXY_THREADS)");

        Properties props = new Properties();
        props.setProperty("proxy.upstream.max-retries", "-1");
        assertThatThrownBy(() -> ConfigLoader.load(write(MINIMAL), Map.of(), props))
                .hasMessageContaining("proxy.upstream.max-retries = \"-1\"")
                .hasMessageContaining("(from system property proxy.upstream.max-retries)");
    }

    @Test
    void aMissingFileIsReported() {
        Path missing = dir.resolve("nope.conf");
        assertThatThrownBy(() -> ConfigLoader.load(missing, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("config file not found: " + missing);
        assertThatThrownBy(() -> ConfigLoader.load(dir, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("not a regular file");
    }

    @Test
    void aMissingRequiredIncludeSaysWhereIncludesAreLookedUp() throws IOException {
        Path file = write("include required(\"secrets.conf\")\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("cannot read config file " + file + ": ")
                .hasMessageContaining("secrets.conf")
                .hasMessageEndingWith("(includes are looked up next to the file that includes them: " + dir + ")")
                .hasMessageNotContaining("java.");
    }

    /** HOCON drops a plain include that finds no file; the operator hears of it, with the way to make it an error. */
    @Test
    void aPlainIncludeThatFindsNoFileIsLogged() throws IOException {
        Files.writeString(dir.resolve("token.conf"), "proxy.admin.token = s3cret\n");
        Files.writeString(dir.resolve("empty.conf"), "");
        Path file = write(MINIMAL + "include \"token.conf\"\ninclude \"empty.conf\"\n"
                + "include \"secrets.conf\"\ninclude file(\"" + dir.resolve("local.conf") + "\")\n");
        try (Captured logged = Captured.from(ConfigLoader.class)) {
            ProxyConfig config = ConfigLoader.load(file, Map.of(), NO_PROPERTIES);

            assertThat(config.admin().token()).isEqualTo("s3cret");
            assertThat(logged.messages()).containsExactly(
                    "config file " + file + " (or a file it includes): include \"secrets.conf\" found no file, so it"
                            + " added nothing (looked up next to the file that includes it; include required(…) makes"
                            + " this an error)",
                    "config file " + file + " (or a file it includes): include file(\"" + dir.resolve("local.conf")
                            + "\") found no file, so it added nothing (an absolute path; include required(…) makes"
                            + " this an error)");
        }
    }

    /**
     * A missing include inside an included file is said once (reading the file again as required, to tell missing
     * from empty, does not say it again), and a relative file() is said to be looked up from the working directory.
     */
    @Test
    void aMissingIncludeInAnIncludedFileIsSaidOnceAndFileIncludesSayWhereTheyLook() throws IOException {
        Files.writeString(dir.resolve("nested.conf"), "include \"gone.conf\"\n");
        Path file = write(MINIMAL + "include \"nested.conf\"\ninclude file(\"elsewhere.conf\")\n");
        try (Captured logged = Captured.from(ConfigLoader.class)) {
            ConfigLoader.load(file, Map.of(), NO_PROPERTIES);

            assertThat(logged.messages()).filteredOn(m -> m.contains("gone.conf")).hasSize(1);
            assertThat(logged.messages()).as("it is there, though it adds nothing")
                    .noneMatch(m -> m.contains("nested.conf"));
            assertThat(logged.messages()).anySatisfy(m -> assertThat(m).contains("include file(\"elsewhere.conf\")"
                    + " found no file").contains("a relative file() is looked up from the working directory, "
                    + Path.of("").toAbsolutePath()));
        }
    }

    @Test
    void aSyntaxErrorNamesFileAndLine() throws IOException {
        Path file = write("proxy {\n  threads = 4\n  trusted-proxies = [\n}\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("syntax error in " + file + " at line 4: ");
    }

    @Test
    void anUnclosedBraceIsCalledThat() throws IOException {
        Path file = write("proxy {\n  threads = 4\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageEndingWith("end of file (a { or [ opened earlier is not closed)");
    }

    @Test
    void anUnknownKeyInTheFileNamesFileLineAndTheLikelyKey() throws IOException {
        Path file = write(MINIMAL + "proxy.upstream {\n  pool-idle-timout = 500ms\n}\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("unknown key proxy.upstream.pool-idle-timout (in " + file
                        + ":9); did you mean proxy.upstream.pool-idle-timeout?");
    }

    /** A misspelt root would drop every setting under it, the admin token included. */
    @Test
    void aMisspeltProxyRootIsAnError() throws IOException {
        Path file = write(MINIMAL + "prxy {\n  admin.token = s3cret\n}\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("unknown key prxy (in " + file + ":8); did you mean proxy?");
        Path capital = write(MINIMAL + "Proxy.listen = \"127.0.0.1:1\"\n");
        assertThatThrownBy(() -> ConfigLoader.load(capital, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessage("unknown key Proxy (in " + capital + ":8); did you mean proxy?");
    }

    /** A setting appended after the proxy block's closing brace would be dropped: the admin token, say. */
    @Test
    void aSettingOfTheProxyOutsideItsBlockIsAnError() throws IOException {
        Path file = write(MINIMAL + "admin.token = s3cret\nupstream.response-timeout = 5s\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("key admin (in " + file + ":8) is outside the proxy { } block, where it would"
                        + " be ignored; did you mean proxy.admin?")
                .hasMessageContaining("key upstream (in " + file + ":9) is outside the proxy { } block");
    }

    @Test
    void fromConfigAppliesDefaultsAndValidation() {
        ProxyConfig config = ConfigLoader.fromConfig(ConfigFactory.parseString(MINIMAL + "other.root = 1"));
        assertThat(config.routing().stable()).isEqualTo("blue");
        assertThat(config.upstream().maxConnections()).isEqualTo(1024);

        assertThatThrownBy(() -> ConfigLoader.fromConfig(ConfigFactory.parseString("proxy = 5")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("proxy = 5");
    }

    @Test
    void substitutionsAreResolvedAcrossLayers() throws IOException {
        Path file = write(MINIMAL + "base = 3s\nproxy.upstream.connect-timeout = ${base}\n");
        ProxyConfig config = ConfigLoader.load(file, Map.of(), NO_PROPERTIES);
        assertThat(config.upstream().connectTimeout()).isEqualTo(Duration.ofSeconds(3));

        Path broken = write(MINIMAL + "proxy.upstream.connect-timeout = ${nowhere}\n");
        assertThatThrownBy(() -> ConfigLoader.load(broken, Map.of(), NO_PROPERTIES))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("nowhere");
    }

    @Test
    void everyDefaultInReferenceConfHasAComment() throws IOException {
        String text;
        try (InputStream in = ConfigLoader.class.getClassLoader().getResourceAsStream("reference.conf")) {
            assertThat(in).isNotNull();
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        List<String> uncommented = new ArrayList<>();
        String previous = "";
        for (String raw : text.split("\n")) {
            String line = raw.strip();
            boolean setsSomething = !line.isEmpty() && !line.startsWith("#") && !line.equals("}");
            if (setsSomething && !line.startsWith("proxy {") && !previous.startsWith("#")) {
                uncommented.add(line);
            }
            if (!line.isEmpty()) {
                previous = line;
            }
        }
        assertThat(uncommented).isEmpty();
        assertThat(ConfigLoader.defaults().getString("proxy.listen")).isEqualTo("0.0.0.0:8080");
    }

    @Test
    void overridesCanBuildAWholeConfigWithoutAFileSayingMuch() throws IOException {
        Map<String, String> env = new HashMap<>();
        env.put("CANARY_PROXY_RELEASES_BLUE_ENDPOINTS", "unix:/run/blue.sock");
        env.put("CANARY_PROXY_ROUTING_STABLE", "blue");
        ProxyConfig config = ConfigLoader.load(write("# everything from the environment\n"), env, NO_PROPERTIES);
        assertThat(config.release("blue").endpoints())
                .containsExactly(new EndpointAddress(null, Path.of("/run/blue.sock")));
    }
}
