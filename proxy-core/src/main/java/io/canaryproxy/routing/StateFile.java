package io.canaryproxy.routing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.canaryproxy.internal.AtomicFile;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * The route table on disk, so that a restarted proxy comes back with the release the operator last chose. Written
 * to a temporary file, forced to disk and renamed over the old one: a crash leaves either the old or the new table,
 * never half of one.
 */
public final class StateFile {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;

    public StateFile(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    /** The stored table, or empty when there is no file yet. */
    public Optional<RouteTable> read() throws IOException {
        if (!Files.exists(path)) {
            return Optional.empty();
        }
        JsonNode node = JSON.readTree(path.toFile());
        if (node == null || !node.hasNonNull("stable")) {
            throw new IOException("no \"stable\" release in " + path);
        }
        String canary = node.hasNonNull("canary") ? node.get("canary").asText() : null;
        int weight = (int) Math.round(node.path("weight").asDouble(0) * 100);
        Instant changedAt = node.hasNonNull("changedAt") ? Instant.parse(node.get("changedAt").asText()) : Instant.now();
        try {
            return Optional.of(new RouteTable(node.get("stable").asText(), canary, weight,
                    node.path("version").asLong(0), changedAt));
        } catch (IllegalArgumentException e) {
            throw new IOException("invalid route table in " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * Makes sure that {@link #write} can work: the directory exists (it is created) and a file can be created and
     * renamed there, and the path is no directory. Checked at start, so that a path that cannot be written is
     * found then, not when the first switch of a deploy fails.
     */
    public void checkWritable() throws IOException {
        if (Files.isDirectory(path)) {
            throw new FileSystemException(path.toString(), null, "Is a directory");
        }
        Files.delete(AtomicFile.newTempFile(path));
    }

    public void write(RouteTable table) throws IOException {
        ObjectNode node = JSON.createObjectNode();
        node.put("stable", table.stable());
        if (table.canary() == null) {
            node.putNull("canary");
        } else {
            node.put("canary", table.canary());
        }
        node.put("weight", table.weightPercent());
        node.put("version", table.version());
        node.put("changedAt", table.changedAt().toString());
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node);

        AtomicFile.write(path, bytes);
    }

    /**
     * Why a {@link #write} failed, as an operator reads it: {@code /var/lib/proxy: Permission denied}. The file
     * system's exceptions often carry only the path; the reason is then named after the exception.
     */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException f) {
            String why = f.getReason() != null ? f.getReason()
                    : f instanceof AccessDeniedException ? "Permission denied"
                    : f instanceof NoSuchFileException ? "No such file or directory"
                    // only Files.createDirectories throws it here: the directory's path is a file
                    : f instanceof FileAlreadyExistsException ? "Not a directory"
                    : f.getClass().getSimpleName();
            return f.getFile() == null ? why : f.getFile() + ": " + why;
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
