package io.canaryproxy.routing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.RoutingConfig;
import io.canaryproxy.internal.AtomicFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The route table on disk, so that a restarted proxy comes back with the release the operator last chose. Written
 * to a temporary file, forced to disk and renamed over the old one: a crash leaves either the old or the new table,
 * never half of one.
 */
public final class StateFile implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The lock files this JVM's proxies hold. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path path;
    private final Path lockFile;
    /** This proxy's hold on the file, or {@code null} for one made with the constructor. */
    private final FileChannel lock;

    public StateFile(Path path) {
        this(path, null, null);
    }

    private StateFile(Path path, Path lockFile, FileChannel lock) {
        this.path = path;
        this.lockFile = lockFile;
        this.lock = lock;
    }

    /**
     * The state file at {@code configured}, held by this proxy until {@link #close}. A lock on {@code FILE.lock}
     * refuses a second proxy started on the same file by mistake: each would replace the other's table without a
     * word, and the next start would take whichever wrote last. A symbolic link is followed, so that the writes
     * reach its target (a rename over the link would replace it with a file of its own).
     *
     * @throws ConfigException when another process holds the file, or the link leads nowhere
     * @throws IOException     when the lock file cannot be made
     */
    public static StateFile open(Path configured) throws IOException {
        Path path = configured;
        if (Files.isSymbolicLink(configured)) {
            if (!Files.exists(configured)) {
                throw ConfigException.invalid("proxy.state-file", configured.toString(), "is a symbolic link to "
                        + Files.readSymbolicLink(configured) + ", which does not exist (a volume not mounted yet?);"
                        + " starting from routing.stable could send users to a release that is not running");
            }
            path = configured.toRealPath();
        }
        Files.createDirectories(path.toAbsolutePath().getParent());
        Path lockFile = path.toAbsolutePath().resolveSibling(path.getFileName() + ".lock");
        // The lock is the process's (fcntl): closing any descriptor of the file here would drop it, so a proxy of
        // this JVM that holds it is found without opening the file at all.
        if (!HELD.add(lockFile)) {
            throw inUse(configured, ProcessHandle.current().pid() + "", lockFile);
        }
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            if (channel.tryLock() == null) {
                ByteBuffer holder = ByteBuffer.allocate(32);
                channel.read(holder, 0);
                throw inUse(configured, new String(holder.array(), 0, holder.position(), StandardCharsets.US_ASCII)
                        .strip(), lockFile);
            }
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
            return new StateFile(path, lockFile, channel);
        } catch (IOException | RuntimeException e) {
            HELD.remove(lockFile);
            if (channel != null) {
                channel.close();
            }
            throw e;
        }
    }

    private static ConfigException inUse(Path configured, String holder, Path lockFile) {
        return ConfigException.invalid("proxy.state-file", configured.toString(), "is in use by another canary-proxy"
                + (holder.isEmpty() ? "" : " (process " + holder + ")") + ", which holds " + lockFile + "; give each"
                + " proxy a state file of its own");
    }

    /** Lets another proxy have the file: the lock goes with the channel. */
    @Override
    public synchronized void close() {
        if (lock != null && lock.isOpen()) {
            try {
                lock.close();
            } catch (IOException e) {
                // the lock goes with the process anyway
            }
            HELD.remove(lockFile);
        }
    }

    public Path path() {
        return path;
    }

    /**
     * The stored table, or empty when there is no file yet.
     *
     * @throws IOException when the file cannot be read or does not hold a route table exactly as {@link #write}
     *                     writes it: values of another type are not guessed at, since a table the proxy did not
     *                     write could send users anywhere
     */
    public Optional<RouteTable> read() throws IOException {
        if (!Files.exists(path)) {
            return Optional.empty();
        }
        JsonNode node = AtomicFile.readObject(path, JSON);
        String stable = text(node, "stable", false);
        String canary = text(node, "canary", true);
        JsonNode weight = present(node, "weight");
        if (!weight.isNumber() || !(weight.asDouble() >= 0 && weight.asDouble() <= 100)
                || !RoutingConfig.inBasisPoints(weight.asDouble())) {
            throw new IOException("\"weight\" is " + weight + ", not a percentage from 0 to 100 with at most 2"
                    + " decimals");
        }
        JsonNode version = present(node, "version");
        if (!version.canConvertToLong() || !version.isIntegralNumber() || version.asLong() < 0) {
            throw new IOException("\"version\" is " + version + ", not a whole number of at least 0");
        }
        Instant changedAt;
        try {
            changedAt = node.hasNonNull("changedAt") ? Instant.parse(text(node, "changedAt", false)) : Instant.now();
        } catch (DateTimeParseException e) {
            throw new IOException("\"changedAt\" is " + node.get("changedAt") + ", not a time such as "
                    + "2026-01-31T12:00:00Z", e);
        }
        try {
            return Optional.of(new RouteTable(stable, canary, (int) Math.round(weight.asDouble() * 100),
                    version.asLong(), changedAt));
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** {@code field}'s value; a missing one is said as such, not as an empty value. */
    private static JsonNode present(JsonNode node, String field) throws IOException {
        JsonNode value = node.get(field);
        if (value == null) {
            throw new IOException("no \"" + field + "\"");
        }
        return value;
    }

    private static String text(JsonNode node, String field, boolean nullable) throws IOException {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            if (nullable) {
                return null;
            }
            throw new IOException("no \"" + field + "\"");
        }
        if (!value.isTextual() || value.asText().isEmpty()) {
            throw new IOException("\"" + field + "\" is " + value + ", not a " + (nullable ? "release name or null"
                    : field.equals("changedAt") ? "time" : "release name"));
        }
        return value.asText();
    }

    /**
     * Makes sure that {@link #write} can work: the directory exists (it is created) and a file can be created and
     * renamed there, and the path is no directory. Checked at start, so that a path that cannot be written is
     * found then, not when the first switch of a deploy fails; the temporary files of a proxy killed while it wrote
     * are removed then too.
     */
    public void checkWritable() throws IOException {
        if (Files.isDirectory(path)) {
            throw new FileSystemException(path.toString(), null, "Is a directory");
        }
        AtomicFile.removeLeftovers(path);
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
        return describe(e, null);
    }

    /** {@link #reason(IOException)} for a message that names {@code named} already: not named again. */
    public static String reason(IOException e, Path named) {
        return describe(e, named == null ? null : named.toString());
    }

    private static String describe(IOException e, String named) {
        if (e instanceof FileSystemException f) {
            String why = f.getReason() != null ? f.getReason()
                    : f instanceof AccessDeniedException ? "Permission denied"
                    : f instanceof NoSuchFileException ? "No such file or directory"
                    // only Files.createDirectories throws it here: the directory's path is a file
                    : f instanceof FileAlreadyExistsException ? "Not a directory"
                    : f.getClass().getSimpleName();
            // A failed rename names its source first, the temporary file; what is wrong is the target (a
            // directory where the state file should be, say).
            String file = f.getOtherFile() != null ? f.getOtherFile() : f.getFile();
            if (f instanceof AccessDeniedException && file != null && !Files.exists(Path.of(file))) {
                // A file that could not be made (a temporary file, the lock): its directory is what refuses.
                Path dir = Path.of(file).toAbsolutePath().getParent();
                file = dir == null ? file : dir.toString();
            }
            return file == null || file.equals(named) ? why : file + ": " + why;
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
