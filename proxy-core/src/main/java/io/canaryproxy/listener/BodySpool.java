package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.FileRegion;
import io.netty.util.AbstractReferenceCounted;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A request body kept in a file until it is whole, so that it can go upstream with its length. The file is
 * unlinked as soon as it is open: nothing is left on disk when the proxy dies, and its space comes back once the
 * last holder lets go.
 *
 * <p>Reference counted: the request holds one reference and every {@link #region} sent upstream one more, since
 * a region may still be going out on an upstream connection after its request ended (an early answer) or on a
 * connection given up for a retry. The file closes when the count reaches zero.
 *
 * <p>Writing happens on the event loop, as nginx writes its client body buffers from its worker: a page-cache
 * write of one read's worth of bytes, microseconds on a local disk.
 */
final class BodySpool extends AbstractReferenceCounted {

    private final FileChannel file;
    private long length;

    private BodySpool(FileChannel file) {
        this.file = file;
    }

    /** A new, empty spool in {@code dir}, readable only by the proxy's user. */
    static BodySpool create(Path dir) throws IOException {
        Path path = Files.createTempFile(dir, "canary-proxy-body-", ".tmp");
        try {
            // On Unix, DELETE_ON_CLOSE unlinks the file as it opens.
            return new BodySpool(FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.DELETE_ON_CLOSE));
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(path);
            throw e;
        }
    }

    /** Appends the readable bytes of {@code data}, leaving its reader index and its reference count alone. */
    void append(ByteBuf data) throws IOException {
        int index = data.readerIndex();
        int left = data.readableBytes();
        while (left > 0) {
            int written = data.getBytes(index, file, length, left);
            index += written;
            left -= written;
            length += written;
        }
    }

    long length() {
        return length;
    }

    /**
     * {@code count} bytes from {@code position} as a region to write to an upstream: sent with {@code sendfile}
     * ({@code splice} on io_uring, {@code transferTo} on NIO), never through the heap. Each call makes a new
     * region, so a retry sends the body anew.
     */
    FileRegion region(long position, long count) {
        retain();
        return new DefaultFileRegion(file, position, count) {
            @Override
            protected void deallocate() {
                // The file is shared with the spool and other regions: only the spool closes it.
                BodySpool.this.release();
            }
        };
    }

    @Override
    protected void deallocate() {
        try {
            file.close();
        } catch (IOException ignored) {
            // Unlinked already; closing gives its space back whatever this says.
        }
    }

    @Override
    public BodySpool touch(Object hint) {
        return this;
    }
}
