package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.canaryproxy.config.StaticFilesSettings;
import io.canaryproxy.config.TransportChoice;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.testing.RawHttpClient;
import io.netty.handler.codec.DateFormatter;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Files served over a real socket to a real HTTP client: headers, types, HEAD, methods, big files, changes. */
class StaticFilesTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path base;
    Path root;
    StaticServer server;
    HttpClient http;

    @BeforeEach
    void start() throws Exception {
        root = Files.createDirectories(base.resolve("static"));
        server = StaticServer.start(root);
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    private HttpResponse<byte[]> request(String method, String path, String... headers) throws Exception {
        HttpRequest.Builder builder = HttpRequest.newBuilder(server.uri(path)).timeout(TIMEOUT)
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (headers.length > 0) {
            builder.headers(headers);
        }
        return http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private HttpResponse<byte[]> get(String path, String... headers) throws Exception {
        return request("GET", path, headers);
    }

    private static String text(HttpResponse<byte[]> response) {
        return new String(response.body(), StandardCharsets.UTF_8);
    }

    private static String header(HttpResponse<byte[]> response, String name) {
        return response.headers().firstValue(name).orElse(null);
    }

    private Path write(String relative, String content) throws IOException {
        Path file = root.resolve(relative);
        Files.createDirectories(file.getParent());
        return Files.writeString(file, content);
    }

    private static byte[] gzip(String text) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    /** As nginx's gzip_static and brotli_static: the variant the build made, typed as the file, said to vary. */
    @Test
    void aPrecompressedVariantGoesToAClientThatAcceptsIt() throws Exception {
        String css = "body { color: teal }\n".repeat(50);
        write("css/app.css", css);
        byte[] gz = gzip(css);
        Files.write(root.resolve("css/app.css.gz"), gz);
        Files.write(root.resolve("css/app.css.br"), new byte[] {1, 2, 3});

        HttpResponse<byte[]> br = get("/static/css/app.css", "Accept-Encoding", "gzip, deflate, br");
        assertThat(br.statusCode()).isEqualTo(200);
        assertThat(header(br, "Content-Encoding")).isEqualTo("br");
        assertThat(header(br, "Content-Type")).isEqualTo("text/css; charset=utf-8");
        assertThat(header(br, "Content-Length")).isEqualTo("3");
        assertThat(br.body()).containsExactly(1, 2, 3);
        assertThat(header(br, "Vary")).isEqualTo("Cookie, X-Canary, Accept-Encoding");

        HttpResponse<byte[]> gzipped = get("/static/css/app.css", "Accept-Encoding", "br;q=0, gzip");
        assertThat(header(gzipped, "Content-Encoding")).isEqualTo("gzip");
        assertThat(new String(new GZIPInputStream(new ByteArrayInputStream(gzipped.body())).readAllBytes(),
                StandardCharsets.UTF_8)).isEqualTo(css);
        assertThat(header(gzipped, "ETag")).as("another representation").isNotEqualTo(header(br, "ETag"));

        HttpResponse<byte[]> plain = get("/static/css/app.css");
        assertThat(header(plain, "Content-Encoding")).isNull();
        assertThat(text(plain)).isEqualTo(css);
        assertThat(header(plain, "Vary")).isEqualTo("Cookie, X-Canary, Accept-Encoding");

        HttpResponse<byte[]> head = request("HEAD", "/static/css/app.css", "Accept-Encoding", "gzip");
        assertThat(header(head, "Content-Length")).isEqualTo(String.valueOf(gz.length));
        HttpResponse<byte[]> range = get("/static/css/app.css", "Accept-Encoding", "gzip", "Range", "bytes=0-1");
        assertThat(range.statusCode()).isEqualTo(206);
        assertThat(header(range, "Content-Range")).isEqualTo("bytes 0-1/" + gz.length);
        assertThat(range.body()).containsExactly(gz[0], gz[1]);
        HttpResponse<byte[]> revalidated = get("/static/css/app.css", "Accept-Encoding", "gzip",
                "If-None-Match", header(gzipped, "ETag"));
        assertThat(revalidated.statusCode()).isEqualTo(304);
        assertThat(header(revalidated, "Vary")).isEqualTo("Cookie, X-Canary, Accept-Encoding");
    }

    /**
     * A file only one root has is the same for every user whatever their route (with files from other releases,
     * and one release here): browsers and CDNs may keep it whatever cookies a user's requests carry.
     */
    @Test
    void aFileNoOtherReleaseHasDoesNotVaryByRelease() throws Exception {
        write("app.3f2a1b.js", "let v = 1;");
        Files.write(root.resolve("app.3f2a1b.js.gz"), gzip("let v = 1;"));
        write("logo.png", "png");
        try (StaticServer alone = StaticServer.start(Transport.select(TransportChoice.AUTO), root,
                new StaticFilesSettings(16 * 1024 * 1024, 64 * 1024, "public, max-age=3600", true))) {
            HttpResponse<byte[]> logo = http.send(HttpRequest.newBuilder(alone.uri("/static/logo.png")).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertThat(logo.statusCode()).isEqualTo(200);
            assertThat(header(logo, "Vary")).isNull();
            HttpResponse<byte[]> script = http.send(HttpRequest.newBuilder(alone.uri("/static/app.3f2a1b.js"))
                    .header("Accept-Encoding", "gzip").build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(header(script, "Content-Encoding")).isEqualTo("gzip");
            assertThat(header(script, "Vary")).isEqualTo("Accept-Encoding");
        }
    }

    /** An image is compressed already: no build makes a variant of it, and none is looked for or served. */
    @Test
    void aCompressedTypeIsServedAsItIs() throws Exception {
        write("logo.png", "png");
        Files.write(root.resolve("logo.png.gz"), gzip("png"));
        HttpResponse<byte[]> response = get("/static/logo.png", "Accept-Encoding", "gzip");
        assertThat(header(response, "Content-Encoding")).isNull();
        assertThat(text(response)).isEqualTo("png");
        assertThat(header(response, "Vary")).isEqualTo("Cookie, X-Canary");
    }

    /** A deploy that rewrote the file but left the variant of the build before: the file is what is current. */
    @Test
    void aVariantOlderThanItsFileIsNotUsed() throws Exception {
        Path js = write("app.js", "let v = 2;");
        Path gz = Files.write(root.resolve("app.js.gz"), gzip("let v = 1;"));
        Files.setLastModifiedTime(gz, FileTime.from(Files.getLastModifiedTime(js).toInstant().minusSeconds(60)));

        HttpResponse<byte[]> response = get("/static/app.js", "Accept-Encoding", "gzip");
        assertThat(header(response, "Content-Encoding")).isNull();
        assertThat(text(response)).isEqualTo("let v = 2;");
        assertThat(header(response, "Vary")).isEqualTo("Cookie, X-Canary");
    }

    /** That a file has no variant is remembered, but only until a file appears in its directory. */
    @Test
    void aVariantThatAppearsLaterIsFound() throws Exception {
        write("js/app.js", "let v = 1;");
        HttpResponse<byte[]> before = get("/static/js/app.js", "Accept-Encoding", "gzip");
        assertThat(header(before, "Content-Encoding")).isNull();
        assertThat(header(before, "Vary")).isEqualTo("Cookie, X-Canary");

        // Directory times come from a coarse clock (a kernel tick): wait until it has moved on.
        FileTime seen = Files.getLastModifiedTime(root.resolve("js"));
        Path probe = base.resolve("probe");
        await().atMost(TIMEOUT).until(() -> {
            Files.writeString(probe, "x");
            return Files.getLastModifiedTime(probe).compareTo(seen) > 0;
        });
        Files.write(root.resolve("js/app.js.gz"), gzip("let v = 1;"));

        // Looked for again within a second (README).
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(100)).untilAsserted(() ->
                assertThat(header(get("/static/js/app.js", "Accept-Encoding", "gzip"), "Content-Encoding"))
                        .isEqualTo("gzip"));
    }

    @Test
    void servesAFileWithTypeLengthValidatorsAndCaching() throws Exception {
        Path file = write("css/app.css", "body { color: red }\n");
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2024-03-01T10:15:30.250Z")));

        HttpResponse<byte[]> response = get("/static/css/app.css");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(text(response)).isEqualTo("body { color: red }\n");
        assertThat(header(response, "Content-Type")).isEqualTo("text/css; charset=utf-8");
        assertThat(header(response, "Content-Length")).isEqualTo("20");
        assertThat(header(response, "Last-Modified")).isEqualTo("Fri, 01 Mar 2024 10:15:30 GMT");
        assertThat(header(response, "ETag")).startsWith("\"14-" + Long.toHexString(
                Instant.parse("2024-03-01T10:15:30.250Z").toEpochMilli()) + "-").endsWith("\"");
        assertThat(header(response, "Cache-Control")).isEqualTo("public, max-age=3600");
        // one URL can be two files during a canary: a shared cache must key on what chose the release
        assertThat(header(response, "Vary")).isEqualTo("Cookie, X-Canary");
        assertThat(header(response, "Accept-Ranges")).isEqualTo("bytes");
        assertThat(DateFormatter.parseHttpDate(header(response, "Date"))).isNotNull();
        assertThat(server.fileRegions()).as("a small file is answered from memory").isZero();
    }

    @Test
    void theQueryStringIsNotPartOfThePath() throws Exception {
        write("app.js", "let a = 1;");
        HttpResponse<byte[]> response = get("/static/app.js?v=3f2a#top");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(text(response)).isEqualTo("let a = 1;");
    }

    @Test
    void percentEncodedUtf8NamesAreDecodedOnce() throws Exception {
        write("café.css", "latte");
        write("%2e%2e", "literally named");

        assertThat(text(get("/static/caf%C3%A9.css"))).isEqualTo("latte");
        assertThat(get("/static/caf%E9.css").statusCode()).as("Latin-1 is not UTF-8").isEqualTo(404);
        assertThat(text(get("/static/%252e%252e"))).isEqualTo("literally named");
    }

    @Test
    void requestsOutsideThePrefixAreNotStatic() throws Exception {
        write("app.css", "x");
        StaticFiles files = StaticServer.blue(root, StaticServer.SETTINGS);

        assertThat(files.matches("/static/app.css")).isTrue();
        assertThat(files.matches("/static/")).isTrue();
        assertThat(files.matches("/static")).isFalse();
        assertThat(files.matches("/staticfiles/app.css")).isFalse();
        assertThat(files.matches("/app/static/app.css")).isFalse();
        assertThat(files.matches("/STATIC/app.css")).isFalse();
        assertThat(text(get("/staticfiles/app.css"))).isEqualTo("app");
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            site.css     | text/css; charset=utf-8
            app.js       | text/javascript; charset=utf-8
            module.mjs   | text/javascript; charset=utf-8
            page.html    | text/html; charset=utf-8
            robots.txt   | text/plain; charset=utf-8
            logo.svg     | image/svg+xml
            logo.png     | image/png
            LOGO.PNG     | image/png
            photo.jpg    | image/jpeg
            photo.jpeg   | image/jpeg
            anim.gif     | image/gif
            pic.webp     | image/webp
            pic.avif     | image/avif
            font.otf     | font/otf
            clip.mp4     | video/mp4
            clip.webm    | video/webm
            sound.mp3    | audio/mpeg
            site.webmanifest | application/manifest+json
            favicon.ico  | image/x-icon
            font.woff    | font/woff
            font.woff2   | font/woff2
            font.ttf     | font/ttf
            data.json    | application/json
            app.js.map   | application/json
            feed.xml     | application/xml
            manual.pdf   | application/pdf
            code.wasm    | application/wasm
            archive.tgz  | application/octet-stream
            README       | application/octet-stream
            .hidden      | application/octet-stream
            """)
    void theContentTypeFollowsTheExtension(String name, String type) throws Exception {
        write(name, "content");
        HttpResponse<byte[]> response = get("/static/" + name);
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(header(response, "Content-Type")).isEqualTo(type);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/static/", "/static/css", "/static/css/", "/static/missing.css", "/static/css/nope.css"})
    void directoriesAndMissingFilesAre404AndNotCached(String path) throws Exception {
        write("css/app.css", "x");
        HttpResponse<byte[]> response = get(path);
        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(header(response, "Cache-Control")).isEqualTo("no-store");
        assertThat(header(response, "ETag")).isNull();
    }

    @Test
    void symbolicLinksInsideTheRootAreFollowed() throws Exception {
        write("css/app.4f3a.css", "hashed");
        Files.createSymbolicLink(root.resolve("app.css"), Path.of("css/app.4f3a.css"));
        Files.createSymbolicLink(root.resolve("styles"), Path.of("css"));

        assertThat(text(get("/static/app.css"))).isEqualTo("hashed");
        assertThat(text(get("/static/styles/app.4f3a.css"))).isEqualTo("hashed");

        // The name asked for gives the type, not the name the link leads to.
        write("build/4f3a", "let a;");
        Files.createSymbolicLink(root.resolve("main.js"), Path.of("build/4f3a"));
        HttpResponse<byte[]> script = get("/static/main.js");
        assertThat(text(script)).isEqualTo("let a;");
        assertThat(header(script, "Content-Type")).isEqualTo("text/javascript; charset=utf-8");
    }

    @Test
    void headSendsTheHeadersOfGetAndNoBody() throws Exception {
        write("app.css", "0123456789");
        write("big.bin", "x".repeat(200_000));
        try (RawHttpClient client = new RawHttpClient(server.address())) {
            RawHttpClient.Response head = client.send("HEAD", "/static/app.css", Map.of(), null);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.header("Content-Length")).isEqualTo("10");
            assertThat(head.header("Content-Type")).isEqualTo("text/css; charset=utf-8");
            assertThat(head.header("ETag")).isNotNull();
            assertThat(head.header("Last-Modified")).isNotNull();

            RawHttpClient.Response bigHead = client.send("HEAD", "/static/big.bin", Map.of("Range", "bytes=0-9"), null);
            assertThat(bigHead.status()).as("Range is for GET only").isEqualTo(200);
            assertThat(bigHead.header("Content-Length")).isEqualTo("200000");

            RawHttpClient.Response missing = client.send("HEAD", "/static/nope.css", Map.of(), null);
            assertThat(missing.status()).isEqualTo(404);

            // Had any of them carried a body, this response would be read out of it.
            RawHttpClient.Response get = client.get("/static/app.css");
            assertThat(get.status()).isEqualTo(200);
            assertThat(get.bodyText()).isEqualTo("0123456789");
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
        assertThat(server.fileRegions()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
    void methodsOtherThanGetAndHeadAre405(String method) throws Exception {
        write("app.css", "x");
        HttpResponse<byte[]> response = request(method, "/static/app.css");
        assertThat(response.statusCode()).isEqualTo(405);
        assertThat(header(response, "Allow")).isEqualTo("GET, HEAD");
        assertThat(text(response)).doesNotContain("x");
    }

    @Test
    void aBodySentWith405DoesNotDisturbTheNextRequest() throws Exception {
        write("app.css", "styles");
        try (RawHttpClient client = new RawHttpClient(server.address())) {
            RawHttpClient.Response post = client.post("/static/app.css", "a=1&b=2".getBytes(StandardCharsets.US_ASCII));
            assertThat(post.status()).isEqualTo(405);
            assertThat(client.get("/static/app.css").bodyText()).isEqualTo("styles");
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void connectionHeadersFollowKeepAlive() throws Exception {
        write("app.css", "styles");
        try (RawHttpClient client = new RawHttpClient(server.address())) {
            RawHttpClient.Response closing = client.get("/static/app.css", Map.of("Connection", "close"));
            assertThat(closing.header("Connection")).isEqualTo("close");
            assertThat(closing.bodyText()).isEqualTo("styles");
            assertThat(client.isClosedByPeer(Duration.ofSeconds(5))).isTrue();

            RawHttpClient.Response http10 = client.sendRaw(("GET /static/app.css HTTP/1.0\r\n"
                    + "Connection: keep-alive\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(http10.status()).isEqualTo(200);
            assertThat(http10.header("Connection")).isEqualTo("keep-alive");
            assertThat(http10.bodyText()).isEqualTo("styles");

            RawHttpClient.Response missing = client.get("/static/nope.css", Map.of("Connection", "close"));
            assertThat(missing.status()).isEqualTo(404);
            assertThat(missing.header("Connection")).isEqualTo("close");
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aLargeFileGoesFromDiskToSocketIntact(Transport transport) throws Exception {
        assumeTrue(transport.isAvailable(), transport + " is not available here");
        byte[] content = new byte[5 * 1024 * 1024 + 7];
        new Random(42).nextBytes(content);
        Files.write(root.resolve("video.bin"), content);

        try (StaticServer onTransport = StaticServer.start(transport, root, StaticServer.SETTINGS)) {
            HttpResponse<byte[]> response = http.send(HttpRequest.newBuilder(onTransport.uri("/static/video.bin"))
                    .timeout(TIMEOUT).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(header(response, "Content-Length")).isEqualTo(String.valueOf(content.length));
            assertThat(header(response, "Content-Type")).isEqualTo("application/octet-stream");
            assertThat(response.body()).isEqualTo(content);

            // The same connection is usable afterwards, and a range of a large file is also sent from disk.
            HttpResponse<byte[]> range = http.send(HttpRequest.newBuilder(onTransport.uri("/static/video.bin"))
                    .header("Range", "bytes=4000000-4000099").timeout(TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertThat(range.statusCode()).isEqualTo(206);
            assertThat(range.body()).isEqualTo(Arrays.copyOfRange(content, 4_000_000, 4_000_100));
            assertThat(onTransport.fileRegions()).isEqualTo(2);
        }
    }

    @Test
    void aClientThatLeavesMidDownloadLeavesNoOpenFileBehind() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/fd")), "needs /proc to count open files");
        Path file = root.resolve("video.bin");
        Files.write(file, new byte[8 * 1024 * 1024]);
        Path real = file.toRealPath();

        try (Socket socket = new Socket()) {
            socket.connect(server.address(), 2000);
            socket.setReceiveBufferSize(4096);
            socket.getOutputStream().write("GET /static/video.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            socket.setSoTimeout(5000);
            assertThat(socket.getInputStream().readNBytes(1000)).hasSize(1000);
            await().atMost(TIMEOUT).until(() -> openDescriptorsOf(real) == 1);
            // Leaving with most of the file unsent: RST instead of FIN, as a browser tab that is closed.
            socket.setSoLinger(true, 0);
        }

        await().atMost(TIMEOUT).until(() -> openDescriptorsOf(real) == 0);
        assertThat(get("/static/video.bin").body()).hasSize(8 * 1024 * 1024);
        await().atMost(TIMEOUT).until(() -> openDescriptorsOf(real) == 0);
    }

    /** How many of this process's file descriptors are open on {@code file}. */
    private static long openDescriptorsOf(Path file) throws IOException {
        long count = 0;
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).equals(file)) {
                        count++;
                    }
                } catch (IOException e) {
                    // closed while we looked
                }
            }
        }
        return count;
    }

    @Test
    void manyClientsDownloadingALargeFileAtOnceAllGetItWhole() throws Exception {
        byte[] content = new byte[1024 * 1024];
        new Random(7).nextBytes(content);
        Files.write(root.resolve("bundle.js"), content);
        List<CompletableFuture<HttpResponse<byte[]>>> downloads = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            downloads.add(HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().sendAsync(
                    HttpRequest.newBuilder(server.uri("/static/bundle.js")).timeout(TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofByteArray()));
        }
        for (CompletableFuture<HttpResponse<byte[]>> download : downloads) {
            HttpResponse<byte[]> response = download.get(20, TimeUnit.SECONDS);
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).isEqualTo(content);
        }
    }

    /** rsync -a, tar and reproducible builds keep size and time: the new file's identity still tells it apart. */
    @Test
    void aFileReplacedWithTheSameSizeAndTimeGetsAnotherTagAndNo304() throws Exception {
        FileTime time = FileTime.from(Instant.parse("2024-01-01T00:00:00Z"));
        Path file = write("e.js", "AAAA\n");
        Files.setLastModifiedTime(file, time);
        HttpResponse<byte[]> first = get("/static/e.js");
        Path fresh = write("e.js.new", "BBBB\n");
        Files.setLastModifiedTime(fresh, time);
        Files.move(fresh, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);

        HttpResponse<byte[]> second = get("/static/e.js", "If-None-Match", header(first, "ETag"));
        assertThat(second.statusCode()).isEqualTo(200);
        assertThat(text(second)).isEqualTo("BBBB\n");
        assertThat(header(second, "ETag")).isNotEqualTo(header(first, "ETag"));
    }

    /** RFC 9110 8.8.2.1: never a Last-Modified after the response's Date; 13.1.3: a future If-Modified-Since is ignored. */
    @Test
    void aFileDatedInTheFutureIsNotSaidToBeModifiedLaterThanNow() throws Exception {
        Path file = write("future.js", "x");
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2035-01-01T00:00:00Z")));

        HttpResponse<byte[]> response = get("/static/future.js");
        assertThat(DateFormatter.parseHttpDate(header(response, "Last-Modified")))
                .isBeforeOrEqualTo(DateFormatter.parseHttpDate(header(response, "Date")));
        HttpResponse<byte[]> ahead = get("/static/future.js", "If-Modified-Since", "Mon, 01 Jan 2035 00:00:00 GMT");
        assertThat(ahead.statusCode()).isEqualTo(200);
    }

    @Test
    void aFileRewrittenInPlaceIsServedNew() throws Exception {
        Path file = write("app.css", "version 1");
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2024-01-01T00:00:00Z")));
        HttpResponse<byte[]> first = get("/static/app.css");
        assertThat(text(first)).isEqualTo("version 1");

        Files.writeString(file, "version 2, longer");
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2024-01-01T00:00:05Z")));
        HttpResponse<byte[]> second = get("/static/app.css");
        assertThat(text(second)).isEqualTo("version 2, longer");
        assertThat(header(second, "ETag")).isNotEqualTo(header(first, "ETag"));
        assertThat(header(second, "Last-Modified")).isEqualTo("Mon, 01 Jan 2024 00:00:05 GMT");
    }

    @Test
    void aFileReplacedByRenameIsServedNewEvenWithTheSameSizeAndTime() throws Exception {
        Path file = write("app.css", "AAAA");
        FileTime time = FileTime.from(Instant.parse("2024-01-01T00:00:00Z"));
        Files.setLastModifiedTime(file, time);
        assertThat(text(get("/static/app.css"))).isEqualTo("AAAA");

        // How deploy tools replace a file atomically: write a new one, rename it over the old.
        Path staged = Files.writeString(root.resolve(".app.css.tmp"), "BBBB");
        Files.setLastModifiedTime(staged, time);
        Files.move(staged, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

        assertThat(text(get("/static/app.css"))).isEqualTo("BBBB");
    }

    @Test
    void aDeletedFileIs404AndComesBackWhenRecreated() throws Exception {
        Path file = write("app.css", "here");
        assertThat(get("/static/app.css").statusCode()).isEqualTo(200);
        Files.delete(file);
        assertThat(get("/static/app.css").statusCode()).isEqualTo(404);
        write("app.css", "back");
        assertThat(text(get("/static/app.css"))).isEqualTo("back");
    }

    @Test
    void aLargeFileThatChangesIsServedNew() throws Exception {
        Path file = root.resolve("big.bin");
        Files.writeString(file, "a".repeat(100_000));
        assertThat(get("/static/big.bin").body()).hasSize(100_000);

        Files.writeString(root.resolve("big.tmp"), "b".repeat(150_000));
        Files.move(root.resolve("big.tmp"), file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        HttpResponse<byte[]> changed = get("/static/big.bin");
        assertThat(changed.statusCode()).isEqualTo(200);
        assertThat(text(changed)).isEqualTo("b".repeat(150_000));
        assertThat(server.fileRegions()).isEqualTo(2);
    }

    @Test
    void aRootBehindASymbolicLinkFollowsTheLinkWhenADeploySwitchesIt() throws Exception {
        // /srv/app/blue -> releases/v1 layout: the root's path stays, the directory behind it changes.
        Path v1 = Files.createDirectories(base.resolve("releases/v1/static"));
        Path v2 = Files.createDirectories(base.resolve("releases/v2/static"));
        Files.writeString(v1.resolve("app.css"), "v1");
        Files.writeString(v2.resolve("app.css"), "v2");
        Path current = Files.createSymbolicLink(base.resolve("current"), Path.of("releases/v1"));

        try (StaticServer deployed = StaticServer.start(Transport.select(TransportChoice.AUTO), current.resolve("static"),
                StaticServer.SETTINGS)) {
            HttpRequest request = HttpRequest.newBuilder(deployed.uri("/static/app.css")).timeout(TIMEOUT).build();
            assertThat(http.send(request, HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("v1");

            Path next = Files.createSymbolicLink(base.resolve("current.new"), Path.of("releases/v2"));
            Files.move(next, current, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

            assertThat(http.send(request, HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("v2");
        }
    }
}
