package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.json;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.CountingBackend;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /reload} of a real proxy started from a config file in a temporary directory, as the launcher starts
 * it: the file is edited, the admin API is asked to re-read it.
 */
class ReloadApiTest {

    private static final String TOKEN = "s3cret";

    @TempDir
    Path dir;

    private CountingBackend blue;
    private CountingBackend green;
    private CountingBackend green2;
    private Path file;
    private final RunningAdmin running = new RunningAdmin();
    private CanaryProxy proxy;
    private AdminCalls calls;

    @BeforeEach
    void start() throws Exception {
        blue = new CountingBackend();
        green = new CountingBackend();
        green2 = new CountingBackend();
        file = dir.resolve("canary-proxy.conf");
        Files.writeString(file, config(green.endpoint()));
        proxy = CanaryProxy.start(Main.loadConfig(file));
        calls = running.serve(proxy, ConfigReloader.fromFile(proxy, file), TOKEN);
    }

    @AfterEach
    void stop() throws Exception {
        running.stop();
        for (CountingBackend b : new CountingBackend[] {blue, green, green2}) {
            if (b != null) {
                b.close();
            }
        }
    }

    private String config(String... greenEndpoints) {
        return """
                proxy {
                  listen = "127.0.0.1:0"
                  threads = 2
                  state-file = ""
                  admin { listen = "127.0.0.1:0", token = "%s" }
                  releases {
                    blue { endpoints = ["%s"] }
                    green { endpoints = [%s] }
                  }
                  routing.stable = blue
                  health-check.interval = 0
                }
                """.formatted(TOKEN, blue.endpoint(), "\"" + String.join("\", \"", greenEndpoints) + "\"");
    }

    /**
     * The file changes only green's endpoints (green gets a second one), which a running proxy takes without a
     * restart.
     */
    @Test
    void aChangedEndpointListIsReloaded() throws Exception {
        Files.writeString(file, config(green.endpoint(), green2.endpoint()));
        AdminCalls.Logged logged = calls.postLogged("/reload");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode body = json(r);
        assertThat(body.get("reloaded").asBoolean()).isTrue();
        assertThat(body.get("changes")).singleElement().satisfies(c -> assertThat(c.asText())
                .startsWith("release green: endpoints ").contains(green2.endpoint()));
        assertThat(body.has("error")).isFalse();
        assertThat(body.get("file").asText()).isEqualTo(file.toAbsolutePath().normalize().toString());
        assertThat(json(calls.get("/status")).get("releases").get("green").get("endpoints"))
                .extracting(e -> e.get("address").asText())
                .containsExactly(green.endpoint(), green2.endpoint());
        assertThat(proxy.config().release("green").endpoints()).hasSize(2);
        assertThat(logged.log()).singleElement().satisfies(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.INFO);
            assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:").contains(": reload of "
                    + file.toAbsolutePath().normalize() + ": 1 change: release green: endpoints ");
        });
        // the stable release serves on
        assertThat(calls.viaProxy("/").statusCode()).isEqualTo(200);
        assertThat(blue.requests()).isEqualTo(1);
    }

    /**
     * Green given blue's endpoint, as a copied block left unedited would: valid, applied, but the answer and the
     * log say that the two releases are now the same processes.
     */
    @Test
    void anEndpointBothReleasesListIsReloadedWithAWarning() throws Exception {
        Files.writeString(file, config(blue.endpoint()));
        AdminCalls.Logged logged = calls.postLogged("/reload");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("reloaded").asBoolean()).isTrue();
        String warning = "proxy.releases.green.endpoints: " + blue.endpoint() + " is also an endpoint of release"
                + " blue: both releases send requests to the same processes there";
        assertThat(body.get("warnings")).singleElement().satisfies(w -> assertThat(w.asText()).isEqualTo(warning));
        assertThat(logged.log()).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).endsWith(": " + warning);
        });

        Files.writeString(file, config(green.endpoint()));
        JsonNode fixed = json(calls.post("/reload"));
        assertThat(fixed.get("reloaded").asBoolean()).isTrue();
        assertThat(fixed.has("warnings")).isFalse();
    }

    /** A reload that comes as the proxy stops is refused as a switch is: 409 with the reason, no stack trace. */
    @Test
    void aReloadOnceTheProxyStopsIsAConflictWithTheReason() throws Exception {
        proxy.stop();
        Files.writeString(file, config(green.endpoint(), green2.endpoint()));

        AdminCalls.Logged logged = calls.postLogged("/reload");

        assertThat(logged.response().statusCode()).isEqualTo(409);
        JsonNode body = json(logged.response());
        assertThat(body.get("reloaded").asBoolean()).isFalse();
        assertThat(body.get("error").asText()).isEqualTo("the proxy has stopped");
        assertThat(logged.log()).singleElement().satisfies(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).endsWith(": reload of " + file.toAbsolutePath().normalize()
                    + " refused: the proxy has stopped");
            assertThat(e.getThrowableProxy()).isNull();
        });
    }

    @Test
    void anUnchangedFileIsReloadedWithNoChange() throws Exception {
        AdminCalls.Logged logged = calls.postLogged("/reload");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("reloaded").asBoolean()).isTrue();
        assertThat(body.get("changes").isArray()).isTrue();
        assertThat(body.get("changes")).isEmpty();
        assertThat(logged.log()).singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
                .endsWith(": reload of " + file.toAbsolutePath().normalize() + ": nothing changed"));
    }

    /** A new listen address needs a restart: the whole file is refused, its other change too. */
    @Test
    void aChangedListenAddressIsRefusedAsNeedingARestart() throws Exception {
        ProxyConfig before = proxy.config();
        Files.writeString(file, config(green.endpoint(), green2.endpoint())
                .replace("listen = \"127.0.0.1:0\"\n  threads", "listen = \"127.0.0.1:1\"\n  threads"));
        AdminCalls.Logged logged = calls.postLogged("/reload");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode body = json(r);
        assertThat(body.get("reloaded").asBoolean()).isFalse();
        assertThat(body.has("changes")).isFalse();
        assertThat(body.get("error").asText()).isEqualTo("proxy.listen changed from 127.0.0.1:0 to 127.0.0.1:1,"
                + " which needs a restart");
        assertThat(proxy.config()).isSameAs(before);
        assertThat(json(calls.get("/status")).get("releases").get("green").get("endpoints"))
                .extracting(e -> e.get("address").asText()).containsExactly(green.endpoint());
        assertThat(calls.viaProxy("/").statusCode()).isEqualTo(200);
        assertThat(logged.log()).singleElement().satisfies(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:").endsWith(": reload of "
                    + file.toAbsolutePath().normalize() + " refused, the running configuration stays: proxy.listen"
                    + " changed from 127.0.0.1:0 to 127.0.0.1:1, which needs a restart");
        });
    }

    /** The answer and the log say that the admin settings changed, never what the token was or is. */
    @Test
    void aChangedAdminTokenIsRefusedWithoutShowingEitherToken() throws Exception {
        Files.writeString(file, config(green.endpoint()).replace("token = \"" + TOKEN + "\"", "token = \"n3wsecret\""));
        AdminCalls.Logged logged = calls.postLogged("/reload");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").asText())
                .endsWith("proxy.admin.token changed, which needs a restart")
                .doesNotContain(TOKEN).doesNotContain("n3wsecret");
        assertThat(logged.log()).singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
                .contains("proxy.admin.token changed").doesNotContain(TOKEN).doesNotContain("n3wsecret"));
    }

    @Test
    void aFileWithASyntaxErrorIsRefusedAndTheRunningConfigurationStays() throws Exception {
        Files.writeString(file, config(green.endpoint()).replace("routing.stable = blue", "routing.stable = {"));
        HttpResponse<String> r = calls.post("/reload");
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode body = json(r);
        assertThat(body.get("reloaded").asBoolean()).isFalse();
        assertThat(body.get("error").asText()).startsWith("syntax error in " + file)
                .doesNotContain("Exception").doesNotContain("\n");
        assertThat(proxy.routes().stable()).isEqualTo("blue");
        assertThat(calls.viaProxy("/").statusCode()).isEqualTo(200);
        assertThat(blue.requests()).isEqualTo(1);
    }

    @Test
    void anInvalidValueIsRefusedNamingTheKey() throws Exception {
        Files.writeString(file, config(green.endpoint()).replace("threads = 2", "threads = many"));
        HttpResponse<String> r = calls.post("/reload");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("reloaded").asBoolean()).isFalse();
        assertThat(json(r).get("error").asText()).contains("proxy.threads").contains("many");
    }

    @Test
    void aMissingFileIsRefused() throws Exception {
        Files.delete(file);
        HttpResponse<String> r = calls.post("/reload");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("reloaded").asBoolean()).isFalse();
        assertThat(json(r).get("error").asText()).startsWith("config file " + file).contains("not found");
    }

    @Test
    void withoutAFileThereIsNothingToReload() throws Exception {
        try (AdminServer noFile = new AdminServer(proxy, proxy.config().admin()).start()) {
            HttpResponse<String> r = new AdminCalls(noFile, proxy, TOKEN).post("/reload");
            assertThat(r.statusCode()).isEqualTo(409);
            JsonNode body = json(r);
            assertThat(body.get("reloaded").asBoolean()).isFalse();
            assertThat(body.get("error").asText()).isEqualTo(
                    "this proxy was not started from a config file, so there is none to re-read");
            assertThat(body.has("file")).isFalse();
        }
    }

    @Test
    void reloadNeedsTheToken() throws Exception {
        HttpResponse<String> r = calls.post("/reload", null);
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(json(r).get("error").asText()).contains("Authorization: Bearer");
    }

    @Test
    void requestsPipelinedBehindAReloadAreAnsweredInOrder() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", running.server().address().getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(("POST /reload HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + TOKEN
                    + "\r\nContent-Length: 0\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String all = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            String[] answers = all.split("(?=HTTP/1\\.1 )");
            assertThat(answers).hasSize(2);
            assertThat(answers[0]).startsWith("HTTP/1.1 200 ").contains("\"reloaded\" : true");
            assertThat(answers[1]).startsWith("HTTP/1.1 200 ").contains("\"status\" : \"ok\"");
        }
    }

    @Test
    void theVariablesOfCtlAreNoConfigKeys() throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put(Ctl.ENV_ADMIN_URL, "http://127.0.0.1:9901");
        env.put(Ctl.ENV_TOKEN, "s3cret");
        env.put("CANARY_PROXY_THREADS", "3");
        assertThat(ConfigLoader.NON_CONFIG_VARIABLES).contains(Ctl.ENV_ADMIN_URL, Ctl.ENV_TOKEN)
                .doesNotContain(Ctl.ENV_ADMIN_TOKEN);
        // the loader skips them, and takes the other variables
        assertThat(ConfigLoader.load(file, env, new Properties()).threads()).isEqualTo(3);
    }
}
