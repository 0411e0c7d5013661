package io.canaryproxy.staticfiles;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Static file metadata and small files' content, keyed by release and request path, bounded by weight.
 *
 * <p>Freshness: a deploy replaces files under the same names, and a page must never get a stale asset of its own
 * release, so a hit is only used after one {@code stat} of the file confirms its size, modification time, inode
 * and inode change time (one system call, cheaper than reopening the file). A changed or vanished file is looked up
 * again from scratch, symbolic links and root check included. A time-based expiry was the alternative; it would
 * serve stale content for its whole lifetime after every deploy.
 *
 * <p>All of this is blocking file I/O on the calling event loop: a {@code stat} per hit, and on a miss a
 * {@code realpath}, a {@code stat} and the read of a file no larger than the small-file limit (64 KiB by
 * default). These are page-cache operations of microseconds on a local disk; large files are never read here.
 *
 * <p>Thread-safe: releases and event loops share one instance.
 */
final class FileCache {

    private static final Logger log = LoggerFactory.getLogger(FileCache.class);

    private record Key(String release, String path) {
    }

    private record Variants(FileTime directory, int present, long checkedNanos) {
    }

    private static final long RECHECK_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final int MAX_VARIANT_ENTRIES = 10_000;

    private final Cache<Key, FileEntry> entries;
    /** What {@link #variantsNextTo} found, with the directory's modification time then. */
    private final Cache<Key, Variants> variants;
    private final int smallFileMax;

    FileCache(long maxBytes, int smallFileMax) {
        this.smallFileMax = smallFileMax;
        this.entries = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((Key key, FileEntry entry) -> entry.weight())
                // Eviction is a little bookkeeping: the event loop that caused it does it, no pool thread is needed.
                .executor(Runnable::run)
                .build();
        this.variants = Caffeine.newBuilder()
                .maximumSize(MAX_VARIANT_ENTRIES)
                .executor(Runnable::run)
                .build();
    }

    /**
     * The regular file {@code relative} below {@code root}, as it is now, or {@code null} when there is none: it
     * is missing, a directory or other non-regular file, unreadable, or its real path (symbolic links followed)
     * lies outside the root's real path.
     *
     * @param relative a path from {@link RequestPath#relative}: no empty, {@code .} or {@code ..} segments
     */
    FileEntry lookup(String release, Path root, String relative) {
        Key key = new Key(release, relative);
        Path file;
        try {
            file = root.resolve(relative);
        } catch (InvalidPathException e) {
            // A name this JVM's file-name encoding cannot express (any non-ASCII name under a C locale): no such file.
            log.debug("static file {}: {}", relative, e.getMessage());
            return null;
        }
        FileEntry cached = entries.getIfPresent(key);
        if (cached != null) {
            try {
                // Follows symbolic links like the lookup did: a link switched to another target is another inode.
                if (cached.isCurrent(FileStat.of(file))) {
                    return cached;
                }
            } catch (IOException e) {
                // Gone or unreadable now; the full lookup below says which.
            }
        }
        FileEntry fresh = load(root, file, relative);
        if (fresh == null) {
            entries.invalidate(key);
        } else {
            entries.put(key, fresh);
        }
        return fresh;
    }

    /**
     * Which {@link Precompressed} variants sit next to {@code relative}, as bits {@code 1 << ordinal()}; each is
     * then looked up for itself, so a variant's content is as fresh as any file's. Most files have no variant,
     * and looking for two on every request (a {@code realpath} that throws for each) would cost more than serving
     * the file: what was found is remembered with the directory's modification time, which adding or removing a
     * file there changes, and that time is read again at most once a second, so a variant a build adds later is
     * served within a second.
     */
    int variantsNextTo(String release, Path root, String relative) {
        Key key = new Key(release, relative);
        Variants known = variants.getIfPresent(key);
        long now = System.nanoTime();
        if (known != null && now - known.checkedNanos() < RECHECK_NANOS) {
            return known.present();
        }
        // Read before the lookups: a variant created after it changes the time and is found at the next check.
        FileTime directory = directoryTime(root, relative);
        if (directory == null) {
            return 0;
        }
        if (known != null && known.directory().equals(directory)) {
            variants.put(key, new Variants(directory, known.present(), now));
            return known.present();
        }
        int present = 0;
        for (Precompressed p : Precompressed.ALL) {
            if (lookup(release, root, relative + p.suffix) != null) {
                present |= 1 << p.ordinal();
            }
        }
        variants.put(key, new Variants(directory, present, now));
        return present;
    }

    /** The modification time of the directory {@code relative} is in (symbolic links followed), or {@code null}. */
    private static FileTime directoryTime(Path root, String relative) {
        try {
            Path parent = root.resolve(relative).getParent();
            return parent == null ? null : Files.getLastModifiedTime(parent);
        } catch (IOException | InvalidPathException e) {
            return null;
        }
    }

    /** Forgets a file, e.g. when it turned out to have changed between lookup and use. */
    void invalidate(String release, String relative) {
        entries.invalidate(new Key(release, relative));
    }

    /** The weight held now, after pending evictions; for tests. */
    long weightedSize() {
        entries.cleanUp();
        return entries.policy().eviction().orElseThrow().weightedSize().orElseThrow();
    }

    private FileEntry load(Path root, Path file, String relative) {
        try {
            // The root is resolved on every miss, not once: a deploy may point it (or a parent) elsewhere.
            Path realRoot = root.toRealPath();
            Path real = file.toRealPath();
            if (!real.startsWith(realRoot)) {
                log.debug("{} leads out of the static root {} to {}", file, root, real);
                return null;
            }
            FileStat before = FileStat.of(real);
            if (!before.regular()) {
                // Directories, and also FIFOs and devices, whose reads would block the event loop.
                return null;
            }
            if (before.size() > smallFileMax) {
                return new FileEntry(real, relative, before, null);
            }
            byte[] content = read(real, (int) before.size());
            FileStat after = FileStat.of(real);
            FileEntry entry = new FileEntry(real, relative, before, content);
            if (content != null && entry.isCurrent(after)) {
                return entry;
            }
            // Being written right now. Describe it as it is now and send it from disk; the next request that sees
            // another size or time replaces this entry.
            return after.regular() ? new FileEntry(real, relative, after, null) : null;
        } catch (IOException e) {
            // Missing (most often), not a directory, a symbolic link loop, permission denied: all look like 404.
            log.debug("static file {}: {}", file, e.toString());
            return null;
        }
    }

    /** The first {@code size} bytes of the file, or {@code null} when it is shorter. */
    private static byte[] read(Path file, int size) throws IOException {
        try (SeekableByteChannel channel = Files.newByteChannel(file)) {
            // Never more than the size just seen, however much the file grows meanwhile (the caller's second stat
            // notices that it did).
            ByteBuffer buffer = ByteBuffer.allocate(size);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer) < 0) {
                    return null;
                }
            }
            return buffer.array();
        }
    }
}
