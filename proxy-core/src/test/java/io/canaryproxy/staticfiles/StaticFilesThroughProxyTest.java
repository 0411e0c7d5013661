package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.HttpHeads;
import io.canaryproxy.testing.RawHttpClient;
import io.canaryproxy.testing.RawExchange;
import io.canaryproxy.testing.TestConfigs;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With real gunicorn: a user gets the page and its static files from the same release, whichever that is.
 */
class StaticFilesThroughProxyTest {

    @TempDir
    Path dir;

    private Gunicorn blue;
    private Gunicorn green;
    private CanaryProxy proxy;

    @BeforeEach
    void start() throws Exception {
        for (String release : new String[] {"blue", "green"}) {
            Path root = Files.createDirectories(dir.resolve(release + "/static"));
            Files.writeString(root.resolve("app.css"), ".release::after { content: \"" + release + "\" }\n");
            Files.writeString(root.resolve("app." + release + ".js"), "console.log(\"" + release + "\");\n");
        }
        Files.writeString(dir.resolve("secret.txt"), "top secret\n");
        blue = Gunicorn.unixSocket("blue", dir).start();
        green = Gunicorn.tcp("green").start();
        proxy = CanaryProxy.start(config(""));
    }

    private ProxyConfig config(String extra) {
        return TestConfigs.parse("""
                proxy {
                  releases.blue { endpoints = ["%s"], static { prefix = "/static/", root = "%s" } }
                  releases.green { endpoints = ["%s"], static { prefix = "/static/", root = "%s" } }
                  routing.stable = blue
                }
                %s
                """.formatted(blue.endpoint(), dir.resolve("blue/static"), green.endpoint(),
                dir.resolve("green/static"), extra));
    }

    /** A switch to a release whose static files are not there yet would serve its pages with a 404 per asset. */
    @Test
    void aSwitchToAReleaseWhoseStaticRootIsMissingIsRefusedUnlessForced() throws Exception {
        Path greenRoot = dir.resolve("green/static");
        Path aside = Files.move(greenRoot, dir.resolve("green/static-not-yet"));

        assertThatThrownBy(() -> proxy.switchTo("green", false)).isInstanceOf(IllegalStateException.class)
                .hasMessage("release 'green' serves /static/ from " + greenRoot + ", which is not a directory;"
                        + " deploy its static files first, or force the switch");
        assertThat(proxy.routes().stable()).isEqualTo("blue");

        Files.move(aside, greenRoot);
        assertThat(proxy.switchTo("green", false).stable()).isEqualTo("green");
    }

    /**
     * A client that stops reading a large static file is cut off after client-idle-timeout, as one that stops
     * reading a proxied response is: until then its release could not drain.
     */
    @Test
    void aClientThatStopsReadingAStaticFileIsCutOffAfterTheIdleTimeout() throws Exception {
        try (RandomAccessFile big = new RandomAccessFile(dir.resolve("blue/static/big.bin").toFile(), "rw")) {
            big.setLength(256L << 20); // sparse: far more than the socket buffers hold
        }
        try (CanaryProxy idle = CanaryProxy.start(config("proxy.limits.client-idle-timeout = 1s"));
             Captured logged = Captured.from(Class.forName("io.canaryproxy.listener.ProxyHandler"));
             Socket client = new Socket()) {
            client.setReceiveBufferSize(64 * 1024);
            client.connect(idle.listenAddress());
            client.getOutputStream().write("GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(client.getInputStream().readNBytes(1024)).hasSize(1024);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> idle.status().releases().get("blue").inflight() == 1);

            // Reads nothing more.
            await().atMost(Duration.ofSeconds(15))
                    .until(() -> idle.status().releases().get("blue").inflight() == 0);
            assertThat(logged.messages()).anySatisfy(line -> assertThat(line)
                    .contains("GET /static/big.bin (release blue, static file): client 127.0.0.1 took no more of the"
                            + " response for"));
        }
    }

    /**
     * A file sent from memory (static-files.small-file-max raised) reports no progress: a client that takes it
     * slowly, for longer than client-idle-timeout, still gets all of it.
     */
    @Test
    void aSlowClientOfAFileSentFromMemoryGetsAllOfIt() throws Exception {
        byte[] content = new byte[12 << 20]; // more than the socket buffers hold
        java.util.Arrays.fill(content, (byte) 'm');
        Files.write(dir.resolve("blue/static/medium.bin"), content);
        try (CanaryProxy idle = CanaryProxy.start(config(
                "proxy { limits.client-idle-timeout = 1s, static-files.small-file-max = 12m }"));
             Socket client = new Socket()) {
            client.setReceiveBufferSize(64 * 1024);
            client.connect(idle.listenAddress());
            client.setSoTimeout(10_000);
            client.getOutputStream().write("GET /static/medium.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = client.getInputStream();
            assertThat(HttpHeads.read(in)).startsWith("HTTP/1.1 200 ");
            long began = System.nanoTime();
            int got = 0;
            while (got < content.length) {
                byte[] piece = in.readNBytes(Math.min(512 * 1024, content.length - got));
                assertThat(piece).as("cut after %d bytes", got).isNotEmpty();
                got += piece.length;
                Thread.sleep(50); // pacing a slow reader, not waiting for anything
            }
            assertThat(System.nanoTime() - began).as("slower than the idle timeout")
                    .isGreaterThan(java.util.concurrent.TimeUnit.SECONDS.toNanos(1));
        }
    }

    @Test
    void aReloadOfTheStaticFileSettingsReachesTheNextResponse() throws Exception {
        try (RawHttpClient browser = new RawHttpClient(proxy.listenAddress())) {
            assertThat(browser.get("/static/app.css").header("Cache-Control")).isEqualTo("public, max-age=3600");

            assertThat(proxy.reload(config("proxy.static-files.cache-control = \"no-store\"")))
                    .containsExactly("proxy.static-files.cache-control: public, max-age=3600 -> no-store");

            assertThat(browser.get("/static/app.css").header("Cache-Control")).isEqualTo("no-store");
        }
    }

    @AfterEach
    void stop() {
        // Whatever a failed start left: a gunicorn left running would slow every later test class.
        try {
            if (proxy != null) {
                proxy.close();
            }
        } finally {
            if (blue != null) {
                blue.close();
            }
            if (green != null) {
                green.close();
            }
        }
    }

    @Test
    void everyUserGetsPageAndAssetsFromTheSameRelease() throws Exception {
        proxy.setCanary("green", 50, false);
        int onGreen = 0;
        for (int user = 0; user < 40; user++) {
            try (RawHttpClient browser = new RawHttpClient(proxy.listenAddress())) {
                // Distinct users: each arrives with a bucket of its own, as browsers that were given one.
                String jar = "cp_bucket=" + (user * 250);
                RawHttpClient.Response page = browser.get("/static-page", Map.of("Cookie", jar));
                assertThat(page.status()).isEqualTo(200);
                String release = page.bodyText().contains("release green") ? "green" : "blue";
                RawHttpClient.Response css = browser.get("/static/app.css", Map.of("Cookie", jar));
                assertThat(css.status()).isEqualTo(200);
                assertThat(css.header("Content-Type")).startsWith("text/css");
                assertThat(css.bodyText()).as("assets of user %d", user).contains("\"" + release + "\"");
                if (release.equals("green")) {
                    onGreen++;
                }
            }
        }
        assertThat(onGreen).isEqualTo(20);
    }

    /**
     * Pages name fingerprinted assets, a different name in each release: a page blue served a moment before the
     * switch to green still gets its script (from blue's root, green has no such file), and one served by a canary
     * just before its rollback gets the canary's. A name both releases have comes from the user's release.
     */
    @Test
    void aPageServedJustBeforeASwitchOrARollbackStillGetsItsAssets() throws Exception {
        try (RawHttpClient browser = new RawHttpClient(proxy.listenAddress())) {
            String bluePage = browser.get("/static-page").bodyText();
            assertThat(bluePage).contains("<script src=\"/static/app.blue.js\">");

            // Only blue's root has it: every user gets that file, so caches may keep it whatever the cookies.
            assertThat(browser.get("/static/app.blue.js").header("Vary")).isNull();
            proxy.switchTo("green", false);

            RawHttpClient.Response script = browser.get("/static/app.blue.js");
            assertThat(script.status()).isEqualTo(200);
            assertThat(script.bodyText()).contains("\"blue\"");
            assertThat(script.header("Content-Type")).startsWith("text/javascript");
            assertThat(script.header("Vary")).isNull();
            RawHttpClient.Response css = browser.get("/static/app.css");
            assertThat(css.bodyText()).contains("\"green\"");
            // Both roots have one: which one a user gets depends on the route.
            assertThat(css.header("Vary")).isEqualTo("Cookie, X-Canary");
            assertThat(browser.get("/static/app.purple.js").status()).isEqualTo(404);

            proxy.setCanary("blue", 100, false);
            assertThat(browser.get("/static-page").bodyText()).contains("<script src=\"/static/app.blue.js\">");
            proxy.rollback();
            assertThat(browser.get("/static/app.blue.js").bodyText()).contains("\"blue\"");

            // An operator who wants a file gone from a build gone for everyone turns it off.
            assertThat(proxy.reload(config("proxy.static-files.from-other-releases = false")))
                    .containsExactly("proxy.static-files.from-other-releases: true -> false");
            assertThat(browser.get("/static/app.blue.js").status()).isEqualTo(404);
            // Now only blue's users get it: the answer varies by release again.
            assertThat(browser.get("/static/app.blue.js", Map.of("Cookie", "cp_release=blue")).header("Vary"))
                    .isEqualTo("Cookie, X-Canary");
        }
    }

    /** X-Served-By, when it is on, names the release for static files as for proxied responses. */
    @Test
    void servedByNamesTheReleaseOfAStaticFileToo() throws Exception {
        proxy.close();
        proxy = CanaryProxy.start(TestConfigs.parse("""
                proxy {
                  releases.blue { endpoints = ["%s"], static { prefix = "/static/", root = "%s" } }
                  releases.green { endpoints = ["%s"], static { prefix = "/static/", root = "%s" } }
                  routing { stable = blue, served-by-header = on }
                }
                """.formatted(blue.endpoint(), dir.resolve("blue/static"), green.endpoint(),
                dir.resolve("green/static"))));
        try (RawHttpClient browser = new RawHttpClient(proxy.listenAddress())) {
            assertThat(browser.get("/static/app.css").header("X-Served-By")).isEqualTo("blue");
            assertThat(browser.get("/static/app.css", Map.of("Cookie", "cp_release=green")).header("X-Served-By"))
                    .isEqualTo("green");
        }
    }

    @Test
    void testersPinnedToAReleaseGetItsAssets() throws Exception {
        proxy.setCanary("green", 1, false);
        try (RawHttpClient tester = new RawHttpClient(proxy.listenAddress())) {
            assertThat(tester.get("/static/app.css", Map.of("X-Canary", "always")).bodyText()).contains("green");
            assertThat(tester.get("/static/app.css", Map.of("Cookie", "cp_release=blue")).bodyText())
                    .contains("blue");
            assertThat(tester.get("/static-page", Map.of("Cookie", "cp_release=green")).bodyText())
                    .contains("release green");
        }
    }

    @Test
    void traversalAttemptsGet404() throws Exception {
        for (String path : new String[] {"/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt",
            "/static/..%2f..%2fsecret.txt", "/static/%2e%2e%5c%2e%2e%5csecret.txt"}) {
            RawExchange.Result r = RawExchange.send(proxy.listenAddress(),
                    "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(r.status()).as(path).isEqualTo(404);
            assertThat(r.text()).doesNotContain("top secret");
        }
    }

    @Test
    void staticFilesAreServedEvenWhileTheAppIsDown() throws Exception {
        blue.kill9();
        try (RawHttpClient client = new RawHttpClient(proxy.listenAddress())) {
            assertThat(client.get("/static/app.css").status()).isEqualTo(200);
            assertThat(client.get("/").status()).isIn(502, 503);
        }
    }
}
