package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileCacheTest {

    @TempDir
    Path root;

    @Test
    void keepsSmallFilesContentAndOnlyMetadataOfLargeOnes() throws Exception {
        Files.write(root.resolve("small.css"), new byte[1000]);
        Files.write(root.resolve("large.js"), new byte[1001]);
        FileCache cache = new FileCache(1 << 20, 1000);

        FileEntry small = cache.lookup("blue", root, "small.css");
        assertThat(small.content).hasSize(1000);
        assertThat(small.path).isEqualTo(root.toRealPath().resolve("small.css"));
        assertThat(cache.lookup("blue", root, "small.css")).as("a hit").isSameAs(small);

        FileEntry large = cache.lookup("blue", root, "large.js");
        assertThat(large.content).isNull();
        assertThat(large.size).isEqualTo(1001);
    }

    /**
     * A deploy that copies with preserved times ({@code cp -p}, {@code tar -x}, {@code unzip -o}) over a file of the
     * same size, or into an inode number the old file freed: size, time and inode are all as before. Only the
     * change time, which no tool can set back, tells the new content from the cached one.
     */
    @Test
    void aFileRewrittenWithItsOldSizeAndTimeIsReadAgain() throws Exception {
        Path css = root.resolve("app.css");
        Files.writeString(css, "body{color:red}");
        FileTime deployed = Files.getLastModifiedTime(css);
        FileCache cache = new FileCache(1 << 20, 1000);
        FileEntry before = cache.lookup("blue", root, "app.css");
        // The file system's clock for change times is coarse (a kernel tick): wait until it has moved on.
        FileTime changed = FileStat.of(css).changed();
        Path probe = root.resolve("probe");
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            Files.writeString(probe, "x");
            return FileStat.of(probe).changed().compareTo(changed) > 0;
        });

        Files.writeString(css, "body{color:tan}");
        Files.setLastModifiedTime(css, deployed);

        FileEntry after = cache.lookup("blue", root, "app.css");
        assertThat(new String(after.content)).isEqualTo("body{color:tan}");
        assertThat(after.etag).as("a browser's copy must not be confirmed by a 304").isNotEqualTo(before.etag);
        assertThat(after.size).isEqualTo(before.size);
        assertThat(after.modified).isEqualTo(before.modified);
        assertThat(after.fileKey).isEqualTo(before.fileKey);
    }

    @Test
    void releasesDoNotShareEntries() throws Exception {
        Path blue = Files.createDirectories(root.resolve("blue"));
        Path green = Files.createDirectories(root.resolve("green"));
        Files.writeString(blue.resolve("app.css"), "blue");
        Files.writeString(green.resolve("app.css"), "green");
        FileCache cache = new FileCache(1 << 20, 1000);

        assertThat(new String(cache.lookup("blue", blue, "app.css").content)).isEqualTo("blue");
        assertThat(new String(cache.lookup("green", green, "app.css").content)).isEqualTo("green");
    }

    /** A name the file system's encoding cannot express is no file, not an exception that leaves a request open. */
    @Test
    void aNameThatCannotBeAPathIsNoFile() {
        FileCache cache = new FileCache(100_000, 10_000);
        assertThat(cache.lookup("blue", root, "a\u0000b.js")).isNull();
    }

    @Test
    void theWeightStaysWithinTheBound() throws Exception {
        FileCache cache = new FileCache(100_000, 10_000);
        for (int i = 0; i < 50; i++) {
            Files.write(root.resolve("f" + i + ".js"), new byte[10_000]);
            assertThat(cache.lookup("blue", root, "f" + i + ".js").content).hasSize(10_000);
        }
        assertThat(cache.weightedSize()).isPositive().isLessThanOrEqualTo(100_000);
    }

    @Test
    void nothingButRegularFilesInsideTheRoot() throws Exception {
        Files.createDirectories(root.resolve("static/dir"));
        Files.writeString(root.resolve("outside.txt"), "secret");
        Files.createSymbolicLink(root.resolve("static/out.txt"), root.resolve("outside.txt"));
        Path fifo = root.resolve("static/pipe");
        boolean haveFifo = new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0;
        FileCache cache = new FileCache(1 << 20, 1000);
        Path staticRoot = root.resolve("static");

        assertThat(cache.lookup("blue", staticRoot, "dir")).isNull();
        assertThat(cache.lookup("blue", staticRoot, "missing")).isNull();
        assertThat(cache.lookup("blue", staticRoot, "out.txt")).isNull();
        if (haveFifo) {
            assertThat(cache.lookup("blue", staticRoot, "pipe")).as("a read would block").isNull();
        }
        assertThat(cache.lookup("blue", root.resolve("no-such-root"), "x")).isNull();
    }
}
