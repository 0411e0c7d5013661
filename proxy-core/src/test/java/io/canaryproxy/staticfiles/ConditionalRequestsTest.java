package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.testing.RawHttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** 304 for the client's current copy, 206 and 416 for byte ranges, and If-Range between them. */
class ConditionalRequestsTest {

    private static final String CONTENT = "0123456789abcdefghij";
    private static final Instant MODIFIED = Instant.parse("2024-05-06T07:08:09.500Z");
    private static final String LAST_MODIFIED = "Mon, 06 May 2024 07:08:09 GMT";
    /** Set from the file: size, time and its identity (inode and change time), in hex. */
    private String ETAG;

    @TempDir
    Path root;
    StaticServer server;
    RawHttpClient client;

    @BeforeEach
    void start() throws Exception {
        Path small = Files.writeString(root.resolve("app.js"), CONTENT);
        Files.setLastModifiedTime(small, FileTime.from(MODIFIED));
        FileStat stat = FileStat.of(small);
        ETAG = "\"14-" + Long.toHexString(MODIFIED.toEpochMilli()) + "-"
                + Integer.toHexString(java.util.Objects.hash(stat.fileKey(), stat.changed())) + "\"";
        // Over the small-file limit: ranges of it are sent from disk.
        StringBuilder large = new StringBuilder();
        while (large.length() < 100_000) {
            large.append(CONTENT);
        }
        Files.writeString(root.resolve("big.js"), large);
        server = StaticServer.start(root);
        client = new RawHttpClient(server.address());
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
    }

    private RawHttpClient.Response get(String path, String... headerPairs) throws Exception {
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 0; i < headerPairs.length; i += 2) {
            headers.put(headerPairs[i], headerPairs[i + 1]);
        }
        return client.send("GET", path, headers, null);
    }

    @Test
    void theValidatorsAreTheFilesSizeAndTime() throws Exception {
        RawHttpClient.Response response = get("/static/app.js");
        assertThat(response.header("ETag")).isEqualTo(ETAG);
        assertThat(response.header("Last-Modified")).isEqualTo(LAST_MODIFIED);
    }

    @ParameterizedTest(name = "If-None-Match: {0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            ETAG                       | 304
            W/ETAG                     | 304
            "other", ETAG              | 304
            "other",W/ETAG, "more"     | 304
            *                          | 304
            "other"                    | 200
            W/"other"                  | 200
            "14-0"                     | 200
            """)
    void ifNoneMatchComparesWeakly(String value, int status) throws Exception {
        RawHttpClient.Response response = get("/static/app.js", "If-None-Match", value.replace("ETAG", ETAG));
        assertThat(response.status()).isEqualTo(status);
        if (status == 304) {
            assertThat(response.body()).isEmpty();
            assertThat(response.header("ETag")).isEqualTo(ETAG);
            assertThat(response.header("Last-Modified")).isEqualTo(LAST_MODIFIED);
            assertThat(response.header("Cache-Control")).isEqualTo("public, max-age=3600");
            assertThat(response.header("Content-Length")).isNull();
        } else {
            assertThat(response.bodyText()).isEqualTo(CONTENT);
        }
    }

    @ParameterizedTest(name = "If-Modified-Since: {0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            Mon, 06 May 2024 07:08:09 GMT  | 304
            Mon, 06 May 2024 07:08:10 GMT  | 304
            Tue, 07 May 2024 00:00:00 GMT  | 304
            Monday, 06-May-24 07:08:09 GMT | 304
            Mon May  6 07:08:09 2024       | 304
            Mon, 06 May 2024 07:08:08 GMT  | 200
            Sun, 01 Jan 2023 00:00:00 GMT  | 200
            yesterday                      | 200
            """)
    void ifModifiedSinceComparesWholeSeconds(String value, int status) throws Exception {
        RawHttpClient.Response response = get("/static/app.js", "If-Modified-Since", value);
        assertThat(response.status()).isEqualTo(status);
        assertThat(response.bodyText()).isEqualTo(status == 304 ? "" : CONTENT);
    }

    /** RFC 9110 13.1.1, 13.1.4: a client resuming a download asks that the file be the one it began with. */
    @ParameterizedTest(name = "{0}: {1} -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            If-Match            | ETAG                          | 200
            If-Match            | "other", ETAG                 | 200
            If-Match            | *                             | 200
            If-Match            | W/ETAG                        | 412
            If-Match            | "zzz"                         | 412
            If-Unmodified-Since | Mon, 06 May 2024 07:08:09 GMT | 200
            If-Unmodified-Since | Tue, 07 May 2024 00:00:00 GMT | 200
            If-Unmodified-Since | Mon, 01 Jan 2001 00:00:00 GMT | 412
            If-Unmodified-Since | not a date                    | 200
            """)
    void ifMatchAndIfUnmodifiedSinceGuardTheVersion(String header, String value, int status) throws Exception {
        RawHttpClient.Response response = get("/static/app.js", header, value.replace("ETAG", ETAG));
        assertThat(response.status()).isEqualTo(status);
        assertThat(response.bodyText()).isEqualTo(status == 412 ? "" : CONTENT);
        if (status == 412) {
            assertThat(response.header("ETag")).isEqualTo(ETAG);
        }
    }

    @Test
    void ifNoneMatchWinsOverIfModifiedSince() throws Exception {
        assertThat(get("/static/app.js", "If-None-Match", "\"old\"", "If-Modified-Since", LAST_MODIFIED).status())
                .isEqualTo(200);
        assertThat(get("/static/app.js", "If-None-Match", ETAG,
                "If-Modified-Since", "Sun, 01 Jan 2023 00:00:00 GMT").status())
                .isEqualTo(304);
    }

    @Test
    void headAndLargeFilesAnswer304Too() throws Exception {
        RawHttpClient.Response head = client.send("HEAD", "/static/app.js", Map.of("If-None-Match", ETAG), null);
        assertThat(head.status()).isEqualTo(304);
        String bigTag = get("/static/big.js").header("ETag");
        RawHttpClient.Response big = get("/static/big.js", "If-None-Match", bigTag);
        assertThat(big.status()).isEqualTo(304);
        assertThat(big.body()).isEmpty();
        assertThat(client.get("/static/app.js").bodyText()).isEqualTo(CONTENT);
        assertThat(client.connectionsOpened()).isEqualTo(1);
    }

    @ParameterizedTest(name = "Range: {0} -> {1} {2}")
    @CsvSource(delimiter = '|', textBlock = """
            bytes=0-4          | 206 | 01234                | bytes 0-4/20
            bytes=0-0          | 206 | 0                    | bytes 0-0/20
            bytes=15-          | 206 | fghij                | bytes 15-19/20
            bytes=-3           | 206 | hij                  | bytes 17-19/20
            bytes=18-100       | 206 | ij                   | bytes 18-19/20
            bytes=-100         | 206 | 0123456789abcdefghij | bytes 0-19/20
            bytes=19-19        | 206 | j                    | bytes 19-19/20
            bytes= 2-3         | 206 | 23                   | bytes 2-3/20
            bytes = 2-3        | 200 | 0123456789abcdefghij |
            BYTES=2-3          | 206 | 23                   | bytes 2-3/20
            bytes=20-          | 416 | ''                   | bytes */20
            bytes=20-30        | 416 | ''                   | bytes */20
            bytes=99999999999999999999- | 416 | ''          | bytes */20
            bytes=-0           | 416 | ''                   | bytes */20
            bytes=0-1,5-6      | 200 | 0123456789abcdefghij |
            bytes=5-2          | 200 | 0123456789abcdefghij |
            bytes=a-b          | 200 | 0123456789abcdefghij |
            bytes=-            | 200 | 0123456789abcdefghij |
            bytes=+1-2         | 200 | 0123456789abcdefghij |
            items=0-4          | 200 | 0123456789abcdefghij |
            0-4                | 200 | 0123456789abcdefghij |
            """)
    void singleRangesAreServedAndOthersGetTheWholeFile(String range, int status, String body, String contentRange)
            throws Exception {
        RawHttpClient.Response response = get("/static/app.js", "Range", range);
        assertThat(response.status()).isEqualTo(status);
        assertThat(response.bodyText()).isEqualTo(body);
        assertThat(response.header("Content-Length")).isEqualTo(String.valueOf(body.length()));
        assertThat(response.header("Content-Range")).isEqualTo(contentRange);
        assertThat(response.header("Accept-Ranges")).isEqualTo("bytes");
    }

    @Test
    void rangesOfALargeFileComeFromDisk() throws Exception {
        String expected = Files.readString(root.resolve("big.js"));
        RawHttpClient.Response middle = get("/static/big.js", "Range", "bytes=50000-50009");
        assertThat(middle.status()).isEqualTo(206);
        assertThat(middle.bodyText()).isEqualTo(expected.substring(50_000, 50_010));
        assertThat(middle.header("Content-Range")).isEqualTo("bytes 50000-50009/" + expected.length());

        RawHttpClient.Response tail = get("/static/big.js", "Range", "bytes=-5");
        assertThat(tail.bodyText()).isEqualTo(expected.substring(expected.length() - 5));

        RawHttpClient.Response beyond = get("/static/big.js", "Range", "bytes=" + expected.length() + "-");
        assertThat(beyond.status()).isEqualTo(416);
        assertThat(beyond.header("Content-Range")).isEqualTo("bytes */" + expected.length());
        assertThat(server.fileRegions()).isEqualTo(2);
    }

    @ParameterizedTest(name = "If-Range: {0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            ETAG                          | 206
            LAST_MODIFIED                 | 206
            "other"                       | 200
            W/ETAG                        | 200
            Mon, 06 May 2024 07:08:08 GMT | 200
            Tue, 07 May 2024 00:00:00 GMT | 200
            garbage                       | 200
            """)
    void ifRangeNeedsExactlyThisVersion(String value, int status) throws Exception {
        String ifRange = value.replace("LAST_MODIFIED", LAST_MODIFIED).replace("ETAG", ETAG);
        RawHttpClient.Response response = get("/static/app.js", "Range", "bytes=10-", "If-Range", ifRange);
        assertThat(response.status()).isEqualTo(status);
        assertThat(response.bodyText()).isEqualTo(status == 206 ? "abcdefghij" : CONTENT);
    }

    @Test
    void anEmptyFileHasNoSatisfiableRange() throws Exception {
        Files.write(root.resolve("empty.txt"), new byte[0]);
        RawHttpClient.Response whole = get("/static/empty.txt");
        assertThat(whole.status()).isEqualTo(200);
        assertThat(whole.header("Content-Length")).isEqualTo("0");
        RawHttpClient.Response suffix = get("/static/empty.txt", "Range", "bytes=-5");
        assertThat(suffix.status()).isEqualTo(416);
        assertThat(suffix.header("Content-Range")).isEqualTo("bytes */0");
        assertThat(new String(get("/static/app.js").body(), StandardCharsets.US_ASCII)).isEqualTo(CONTENT);
    }
}
