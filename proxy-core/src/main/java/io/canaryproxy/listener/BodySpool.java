package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.FileRegion;
import io.netty.util.AbstractReferenceCounted;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A body kept in a file: a chunked request body until it is whole, so that it can go upstream with its length, or
 * the part of a response its client has not taken yet ({@link ResponseBuffer}). The file is unlinked as soon as
 * it is open: nothing is left on disk when the proxy dies, and its space comes back once the last holder lets go.
 *
 * <p>Reference counted: the exchange holds one reference and every {@link #region} sent one more, since a region
 * may still be going out after its exchange ended (an early answer, a client that left) or on a connection given
 * up for a retry. The file closes when the count reaches zero.
 *
 * <p>Writing happens on the event loop, as nginx writes its client body buffers from its worker: a page-cache
 * write of up to {@value #STAGING_SIZE} bytes at a time, microseconds on a local disk.
 */
final class BodySpool extends AbstractReferenceCounted {

    /**
     * Appends are gathered here and written a staging buffer at a time: a body sent as many small chunks would
     * otherwise cost a {@code pwrite} per chunk, a million of them for a megabyte in one-byte chunks.
     */
    static final int STAGING_SIZE = 64 * 1024;

    private final FileChannel file;
    /** What was appended and not written yet; {@code null} once the body is {@linkplain #finish finished}. */
    private ByteBuf staging;
    private long length;

    private BodySpool(FileChannel file, ByteBuf staging) {
        this.file = file;
        this.staging = staging;
    }

    /** A new, empty spool in {@code dir}, readable only by the proxy's user, staging its writes in {@code alloc}. */
    static BodySpool create(Path dir, ByteBufAllocator alloc) throws IOException {
        return create(dir, "canary-proxy-body-", alloc);
    }

    /** As {@link #create(Path, ByteBufAllocator)}, with a file name that starts with {@code prefix}. */
    static BodySpool create(Path dir, String prefix, ByteBufAllocator alloc) throws IOException {
        ByteBuf staging = alloc.directBuffer(STAGING_SIZE, STAGING_SIZE);
        try {
            return new BodySpool(open(dir, prefix), staging);
        } catch (IOException | RuntimeException e) {
            staging.release();
            throw e;
        }
    }

    private static FileChannel open(Path dir, String prefix) throws IOException {
        Path path = Files.createTempFile(dir, prefix, ".tmp");
        try {
            // On Unix, DELETE_ON_CLOSE unlinks the file as it opens.
            return FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.DELETE_ON_CLOSE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(path);
            throw e;
        }
    }

    /** Appends the readable bytes of {@code data}, leaving its reader index and its reference count alone. */
    void append(ByteBuf data) throws IOException {
        append(data, data.readerIndex(), data.readableBytes());
    }

    /** Appends {@code size} bytes of {@code data} from {@code index}, leaving its indexes and reference count alone. */
    void append(ByteBuf data, int index, int size) throws IOException {
        ByteBuf staged = staging;
        if (staged == null) {
            throw new IllegalStateException("append after finish");
        }
        if (size > staged.writableBytes()) {
            writeStaged();
            if (size >= staged.capacity()) {
                // Nothing to gather: a copy would only delay the same write.
                write(data, index, size, length);
                length += size;
                return;
            }
        }
        staged.writeBytes(data, index, size);
        length += size;
    }

    /** Writes what is staged, so that regions can read it; appends may go on. */
    void flush() throws IOException {
        if (staging != null) {
            writeStaged();
        }
    }

    /** The bytes in the file, which regions can read: {@link #length} less what is staged. */
    long written() {
        ByteBuf staged = staging;
        return staged == null ? length : length - staged.readableBytes();
    }

    /** Writes what is staged and gives the staging buffer back: the body is whole, and regions read the file. */
    void finish() throws IOException {
        ByteBuf staged = staging;
        if (staged != null) {
            try {
                writeStaged();
            } finally {
                staging = null;
                staged.release();
            }
        }
    }

    private void writeStaged() throws IOException {
        ByteBuf staged = staging;
        int size = staged.readableBytes();
        if (size > 0) {
            write(staged, staged.readerIndex(), size, length - size);
            staged.clear();
        }
    }

    private void write(ByteBuf data, int index, int count, long position) throws IOException {
        while (count > 0) {
            int written = data.getBytes(index, file, position, count);
            index += written;
            position += written;
            count -= written;
        }
    }

    /**
     * Gives up appending after a write failed: what is staged (appended, not in the file; a failed write may have
     * put some of it there, but {@link #written} never counted it) is handed to the caller, who releases it. The file
     * keeps what it holds, for {@link #region}s.
     */
    ByteBuf takeStaged() {
        ByteBuf staged = staging;
        staging = null;
        if (staged == null) {
            return Unpooled.EMPTY_BUFFER;
        }
        length -= staged.readableBytes();
        return staged;
    }

    /** The bytes appended so far, staged or written. */
    long length() {
        return length;
    }

    /**
     * {@code count} bytes from {@code position} as a region to write to a connection: sent with {@code sendfile}
     * ({@code splice} on io_uring, {@code transferTo} on NIO), never through the heap. Each call makes a new
     * region, so a retry sends the body anew. Only of bytes {@linkplain #written written}: a region reads the
     * file alone.
     */
    FileRegion region(long position, long count) {
        if (position < 0 || count < 0 || position + count > written()) {
            throw new IllegalStateException("region of bytes not written to the spool yet");
        }
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
        if (staging != null) {
            // An upload that ended before its body did.
            staging.release();
            staging = null;
        }
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
