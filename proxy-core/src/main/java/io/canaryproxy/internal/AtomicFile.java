package io.canaryproxy.internal;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * A small file replaced whole, and read back as one JSON object: the route table's state file and the analysis
 * beside it. The bytes go to a temporary file in the same directory, are forced to disk, and the temporary file is renamed over the old one, so that a
 * crash or a full disk leaves either the old content or the new, never part of one.
 */
public final class AtomicFile {

    /** How old a temporary file must be to be taken for one a killed writer left. */
    private static final long LEFTOVER_AGE_MILLIS = 60_000;

    private AtomicFile() {
    }

    /**
     * The JSON object such a file holds, read back.
     *
     * @throws IOException when it cannot be read, is empty, is not JSON or holds something other than an object,
     *                     with a message fit for an operator
     */
    public static JsonNode readObject(Path path, ObjectMapper json) throws IOException {
        JsonNode node;
        try {
            // A second value after the object is no file this proxy wrote: refused, as anything else unexpected is.
            node = json.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(
                    Files.readAllBytes(path));
        } catch (JsonProcessingException e) {
            throw new IOException("not valid JSON" + where(e) + " (" + parserSays(e) + ")", e);
        }
        if (node == null || !node.isObject()) {
            throw new IOException(node == null || node.isMissingNode() ? "the file is empty" : "not a JSON object");
        }
        return node;
    }

    private static String where(JsonProcessingException e) {
        JsonLocation at = e.getLocation();
        return at == null || at.getLineNr() < 1 ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
    }

    /** The parser's own words without the location it appends, which names its internals, not the file. */
    private static String parserSays(JsonProcessingException e) {
        String message = String.valueOf(e.getOriginalMessage());
        if (message.startsWith("Trailing token")) {
            return "more after the object";
        }
        int cut = message.indexOf(" (start marker at ");
        if (cut < 0) {
            cut = message.indexOf('\n');
        }
        return cut < 0 ? message : message.substring(0, cut);
    }

    /** Replaces {@code path} with {@code bytes}, creating its directory if need be. */
    public static void write(Path path, byte[] bytes) throws IOException {
        Path tmp = newTempFile(path);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    ch.write(buffer);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory(tmp.getParent());
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * A new empty temporary file beside {@code path}, its directory created if need be: what {@link #write} renames.
     * Creating and deleting one tells whether {@code path} can be written at all.
     */
    public static Path newTempFile(Path path) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        return Files.createTempFile(dir, path.getFileName().toString(), ".tmp");
    }

    /**
     * Removes the temporary files a writer of {@code path} left behind when it was killed between making one and
     * renaming it: nothing reads them, and each restart after such a kill would add one. Only files a minute old:
     * a second proxy started by mistake with the same state file must not take the one the running proxy is
     * writing (a write takes milliseconds).
     */
    public static void removeLeftovers(Path path) {
        Path dir = path.toAbsolutePath().getParent();
        String name = path.getFileName().toString();
        if (dir == null || !Files.isDirectory(dir)) {
            return;
        }
        List<Path> files;
        try (Stream<Path> listed = Files.list(dir)) {
            files = listed.toList();
        } catch (IOException e) {
            return; // left for the next start: they take a few bytes each
        }
        for (Path f : files) {
            String n = f.getFileName().toString();
            // newTempFile's names: the file's name, the random digits of createTempFile, .tmp
            if (n.length() > name.length() + 4 && n.startsWith(name) && n.endsWith(".tmp")
                    && n.substring(name.length(), n.length() - 4).chars().allMatch(Character::isDigit)) {
                try {
                    if (Files.getLastModifiedTime(f).toMillis() < System.currentTimeMillis() - LEFTOVER_AGE_MILLIS) {
                        Files.deleteIfExists(f);
                    }
                } catch (IOException e) {
                    // Renamed or removed by its writer meanwhile, or not ours to remove: the others still go.
                }
            }
        }
    }

    /** The rename itself is on disk only once the directory is: best effort, not every file system allows it. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // The file itself is on disk; only the rename may be lost to a power failure.
        }
    }
}
