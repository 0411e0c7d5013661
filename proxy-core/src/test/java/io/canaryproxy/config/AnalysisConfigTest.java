package io.canaryproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code proxy.analysis}: a bad value is a config error naming the key, never an exception of the parser. */
class AnalysisConfigTest {

    private static AnalysisConfig read(String analysis) {
        return AnalysisConfig.from(ConfigFactory.parseString("analysis { " + analysis + " }")
                .withFallback(ConfigLoader.defaults().getConfig(ConfigLoader.ROOT)));
    }

    private static String error(String analysis) {
        Throwable thrown = catchThrowable(() -> read(analysis));
        assertThat(thrown).as(analysis).isInstanceOf(ConfigException.class);
        return thrown.getMessage();
    }

    @Test
    void theDefaultsAreValid() {
        AnalysisConfig config = read("");
        assertThat(config.steps()).containsExactly(1.0, 5.0, 10.0, 25.0, 50.0, 100.0);
        assertThat(config.webhooks()).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            on-failure = [pause] | proxy.analysis.on-failure = ["pause"]: expected rollback or pause
            webhooks = ["http://x"] | proxy.analysis.webhooks = ["http://x"]: expected a list of webhooks
            webhooks = { url = "http://x" } | proxy.analysis.webhooks = {"url":"http://x"}: expected a list of webhooks
            webhooks = [{ url = [x] }] | proxy.analysis.webhooks[0].url = ["x"]: expected an http
            webhooks = [{ events = [step] }] | proxy.analysis.webhooks[0].url = null: expected an http
            webhooks = [{ url = "ftp://x/y" }] | proxy.analysis.webhooks[0].url = "ftp://x/y": expected an http
            webhooks = [{ url = "http://x", timeout = soon }] | proxy.analysis.webhooks[0].timeout = "soon": expected a duration
            webhooks = [{ url = "http://x", events = step }] | proxy.analysis.webhooks[0].events = "step": expected a list of pre-rollout, step
            webhooks = [{ url = "http://x", events = [stp] }] | proxy.analysis.webhooks[0].events = "stp": expected pre-rollout, step
            webhooks = [{ url = "http://x", name = {a = 1} }] | proxy.analysis.webhooks[0].name = {"a":1}: expected a name
            steps = [0.5, 12.345, 100] | proxy.analysis.steps = [0.5, 12.345, 100]: expected percentages with at most 2
            steps = [5, 1] | proxy.analysis.steps = [5, 1]: expected increasing percentages
            confidence = 150 | proxy.analysis.confidence = 150: expected a percentage from 50
            confidence = 20 | proxy.analysis.confidence = 20: expected a percentage from 50
            interval = 30 | proxy.analysis.interval = 30: expected a duration with its unit, such as 30s
            cooldown = "600" | proxy.analysis.cooldown = "600": expected a duration with its unit, such as 30s
            webhooks = [{ url = "http://x", timeout = 5 }] | proxy.analysis.webhooks[0].timeout = 5: expected a duration with its unit
            webhooks = [{ url = "http://x", timeout = 35s }] | proxy.analysis.webhooks[0].timeout = "35s": expected a duration of at most 25s
            """)
    void aBadValueIsAConfigErrorNamingTheKey(String setting, String message) {
        assertThat(error(setting)).startsWith(message);
    }

    /** A bare 0 needs no unit, as elsewhere in the file. */
    @Test
    void aBareZeroIsZero() {
        assertThat(read("warmup = 0, cooldown = 0").warmup()).isZero();
    }

    @Test
    void everyBadValueIsNamedWithItsFileAndLine(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("proxy.conf");
        Files.writeString(file, """
                analysis {
                  interval = soon
                  confidence = 20
                  webhooks = [{ url = "ftp://x/y" }, { url = "http://ok", events = [stp] }]
                }
                """);
        Throwable thrown = catchThrowable(() -> AnalysisConfig.from(ConfigFactory.parseFile(file.toFile())
                .withFallback(ConfigLoader.defaults().getConfig(ConfigLoader.ROOT))));

        assertThat(thrown).isInstanceOf(ConfigException.class).hasMessage("4 problems in the configuration:\n"
                + "  proxy.analysis.interval = \"soon\": expected a duration such as 30s or 500ms (in " + file + ":2)\n"
                + "  proxy.analysis.confidence = 20: expected a percentage from 50 to below 100, such as 99 (in "
                + file + ":3)\n"
                + "  proxy.analysis.webhooks[0].url = \"ftp://x/y\": expected an http:// or https:// URL (in "
                + file + ":4)\n"
                + "  proxy.analysis.webhooks[1].events = \"stp\": expected pre-rollout, step, promoted, rolled-back,"
                + " paused or ended (in " + file + ":4)");
    }

    @Test
    void aWebhookShowsNeitherThePathNorTheQueryOfItsUrl() {
        AnalysisConfig.Webhook hook = new AnalysisConfig.Webhook("chat",
                URI.create("https://hooks.example.com:8443/services/T0/B0/s3cret?token=x"), List.of(),
                Duration.ofSeconds(5));
        assertThat(hook.toString()).contains("https://hooks.example.com:8443/…").doesNotContain("s3cret")
                .doesNotContain("token");
        AnalysisConfig.Webhook bare = new AnalysisConfig.Webhook("ci", URI.create("http://ci.internal"), List.of("step"),
                Duration.ofSeconds(1));
        assertThat(bare.toString()).contains("url=http://ci.internal,");
    }
}
