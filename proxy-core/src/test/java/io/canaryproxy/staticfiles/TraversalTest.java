package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.testing.RawHttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Requests that try to reach a file outside the static root get 404, never the file, 400 or 500. Sent as raw bytes,
 * because a client library would normalise most of these paths before sending them.
 */
class TraversalTest {

    private static final String SECRET = "the database password";

    @TempDir
    Path base;
    Path root;
    StaticServer server;

    @BeforeEach
    void start() throws Exception {
        root = Files.createDirectories(base.resolve("app/static"));
        Files.createDirectories(root.resolve("css"));
        Files.writeString(root.resolve("css/app.css"), "body {}");
        Files.writeString(base.resolve("app/secret.txt"), SECRET);
        Files.writeString(base.resolve("secret.txt"), SECRET);
        // A sibling whose name starts like the root's: "static-private" begins with "static" as a string.
        Files.createDirectories(base.resolve("app/static-private"));
        Files.writeString(base.resolve("app/static-private/secret.txt"), SECRET);
        Files.createSymbolicLink(root.resolve("link-to-secret.txt"), base.resolve("app/secret.txt"));
        Files.createSymbolicLink(root.resolve("relative-link.txt"), Path.of("../secret.txt"));
        Files.createSymbolicLink(root.resolve("link-to-parent"), base.resolve("app"));
        Files.createSymbolicLink(root.resolve("link-to-sibling"), Path.of("../static-private"));
        Files.createSymbolicLink(root.resolve("loop"), Path.of("loop"));
        server = StaticServer.start(root);
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "/static/../secret.txt",
            "/static/../../secret.txt",
            "/static/css/../../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/%2E%2E/secret.txt",
            "/static/.%2e/secret.txt",
            "/static/..%2fsecret.txt",
            "/static/..%2Fsecret.txt",
            "/static/%2e%2e%2fsecret.txt",
            "/static/css%2f..%2f..%2fsecret.txt",
            "/static/..%5csecret.txt",
            "/static/..%5Csecret.txt",
            "/static/..\\secret.txt",
            "/static/css\\..\\..\\secret.txt",
            "/static/%2e%2e%5csecret.txt",
            "/static/..%00/secret.txt",
            "/static/css/app.css%00.txt",
            "/static/%00",
            "/static/%c0%ae%c0%ae/secret.txt",
            "/static/%252e%252e/secret.txt",
            "/static//etc/passwd",
            "/static//" + "secret.txt",
            "/static/./css/app.css",
            "/static/css/./app.css",
            "/static/css//app.css",
            "/static/%zz",
            "/static/%2",
            "/static/%",
            "/static/link-to-secret.txt",
            "/static/relative-link.txt",
            "/static/link-to-parent/secret.txt",
            "/static/link-to-sibling/secret.txt",
            "/static/../static-private/secret.txt",
            "/static/loop",
            "/static/loop/secret.txt",
    })
    void traversalIsAnswered404(String target) throws Exception {
        try (RawHttpClient client = new RawHttpClient(server.address())) {
            RawHttpClient.Response response = client.send("GET", target, Map.of(), null);
            assertThat(response.status()).as(target).isEqualTo(404);
            assertThat(response.bodyText()).doesNotContain(SECRET);

            // Still a healthy keep-alive connection: nothing was thrown, nothing closed.
            assertThat(client.get("/static/css/app.css").bodyText()).isEqualTo("body {}");
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void theSameFilesAreServedUnderTheirOwnNames() throws Exception {
        try (RawHttpClient client = new RawHttpClient(server.address())) {
            assertThat(client.get("/static/css/app.css").status()).isEqualTo(200);
            assertThat(client.get("/static/css%2Fapp.css").status()).as("an escaped slash is refused").isEqualTo(404);
            assertThat(client.get("/static/%63ss/app.css").bodyText()).as("other escapes are fine")
                    .isEqualTo("body {}");
        }
    }
}
