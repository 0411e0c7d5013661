package io.canaryproxy.staticfiles;

import io.netty.handler.codec.DateFormatter;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Date;
import java.util.Objects;

/**
 * What the proxy knows about one static file: where it really is, the validators it answers with and, for a small
 * file, its content. Immutable; a changed file gets a new entry.
 */
final class FileEntry {

    /** Rough heap cost of an entry without content, so that many small entries also count against the bound. */
    private static final int OVERHEAD = 256;

    /** The file's real path: symbolic links resolved, inside the root's real path. */
    final Path path;
    final long size;
    /** Kept at full precision for {@link #isCurrent}: two writes in one millisecond still differ. */
    final FileTime modified;
    final long modifiedMillis;
    /** The file's identity (device and inode on Unix), or {@code null} where the file system has none. */
    final Object fileKey;
    /** The inode's change time, or {@code null}: see {@link FileStat#changed}. */
    final FileTime changed;
    final String contentType;
    /**
     * {@code "size-mtime-identity"} in hex, the identity from the inode and its change time: changes whenever a
     * deploy changes the file, also one that puts a new file with the old size and time in its place ({@code rsync
     * -a}, {@code tar}), and differs between releases.
     */
    final String etag;
    /** {@link #modifiedMillis} as an RFC 1123 date. */
    final String lastModified;
    /** The whole file, or {@code null} when it is larger than the small-file limit and is sent from disk. */
    final byte[] content;

    /**
     * @param path       the real path
     * @param name       the path the client asked for, which names the type: a link {@code app.js} to
     *                   {@code build/4f3a} is still JavaScript
     * @param stat       the file's attributes, read before {@code content}
     */
    FileEntry(Path path, String name, FileStat stat, byte[] content) {
        this.path = path;
        this.size = stat.size();
        this.modified = stat.modified();
        this.modifiedMillis = modified.toMillis();
        this.fileKey = stat.fileKey();
        this.changed = stat.changed();
        this.contentType = ContentTypes.of(name);
        this.etag = "\"" + Long.toHexString(size) + "-" + Long.toHexString(modifiedMillis)
                + (fileKey == null && changed == null ? "" : "-" + Integer.toHexString(Objects.hash(fileKey, changed)))
                + "\"";
        // RFC 9110 8.8.2.1: a Last-Modified later than the response's Date is replaced by that Date.
        this.lastModified = DateFormatter.format(new Date(Math.min(modifiedMillis, System.currentTimeMillis())));
        this.content = content;
    }

    /**
     * Whether {@code now} (a fresh stat of the file) describes the same file this entry was made from. A deploy
     * that writes a new file and renames it over the old one changes the inode even when size and time happen to
     * be equal; one that rewrites in place changes the time; one that deletes it and extracts another with the
     * old size and time, into the same inode number, changes the change time.
     */
    boolean isCurrent(FileStat now) {
        return now.regular()
                && now.size() == size
                && now.modified().equals(modified)
                && Objects.equals(now.fileKey(), fileKey)
                && Objects.equals(now.changed(), changed);
    }

    /** Last-Modified has whole seconds; comparisons with client dates use the same precision. */
    long modifiedSeconds() {
        return Math.floorDiv(modifiedMillis, 1000);
    }

    /** The entry's weight in the cache, in approximate bytes of heap. */
    int weight() {
        return OVERHEAD + 2 * path.toString().length() + (content == null ? 0 : content.length);
    }
}
