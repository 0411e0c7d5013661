package io.canaryproxy.listener;

import io.canaryproxy.internal.IoFailures;
import io.canaryproxy.internal.LogThrottle;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.FileRegion;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The part of a response its client has not taken yet, kept in a file while the endpoint sends faster than the
 * client reads: the endpoint's worker and connection are free as soon as the endpoint has sent it all, as behind
 * nginx's proxy buffering, instead of waiting for a slow phone to download it.
 *
 * <p>Bytes are appended as they come from the endpoint and go to the client as one region at a time of what the
 * file holds, with {@code sendfile}: a slow client costs disk, not heap. On the event loop only.
 */
final class ResponseBuffer {

    private static final Logger log = LoggerFactory.getLogger(ResponseBuffer.class);
    /**
     * The largest region written at once: a region is done only once the client has taken all of it, and a full
     * buffer makes room for the upstream as regions are done.
     */
    private static final long REGION_MAX = 1L << 20;
    private static final LogThrottle warnings = new LogThrottle(Duration.ofMinutes(1));

    private final BodySpool spool;
    /** Bytes the client's connection has taken. */
    private long sent;
    /** Bytes of the region being sent, 0 while none is. */
    private long sending;

    private ResponseBuffer(BodySpool spool) {
        this.spool = spool;
    }

    /** A new, empty buffer in a file in {@code dir}. */
    static ResponseBuffer open(Path dir, ByteBufAllocator alloc) throws IOException {
        return new ResponseBuffer(BodySpool.create(dir, "canary-proxy-response-", alloc));
    }

    /**
     * No buffer could be made: the response goes on as if there were none, and the operator hears of it once a
     * minute at most (a full disk would otherwise say so for every slow client).
     */
    static void cannotOpen(Path dir, IOException e) {
        if (warnings.allow() >= 0) {
            log.warn("cannot keep responses for slow clients in {} ({}): their upstreams wait for them meanwhile",
                    dir, IoFailures.describe(e));
        }
    }

    /** Appends {@code length} bytes of {@code data} from {@code index}, leaving its indexes and count alone. */
    void append(ByteBuf data, int index, int length) throws IOException {
        spool.append(data, index, length);
    }

    /**
     * After a write failed (a full disk): the bytes appended that are not in the file, handed over to the caller,
     * who releases them. The file takes no more; its regions still send what it holds.
     */
    ByteBuf takeUnwritten() {
        return spool.takeStaged();
    }

    /** Bytes appended that the client has not taken yet, those of a region being sent included. */
    long unsent() {
        return spool.length() - sent;
    }

    /** Bytes appended in all. */
    long length() {
        return spool.length();
    }

    /**
     * The next bytes to send, written to the file first if they were only staged; {@code null} when a region is
     * still being sent or nothing is left. {@link #regionSent} must follow once it is out.
     */
    FileRegion nextRegion() throws IOException {
        if (sending != 0) {
            return null;
        }
        spool.flush();
        long count = Math.min(spool.written() - sent, REGION_MAX);
        if (count == 0) {
            return null;
        }
        sending = count;
        return spool.region(sent, count);
    }

    /** The region {@link #nextRegion} gave is out. */
    void regionSent() {
        sent += sending;
        sending = 0;
    }

    /** Lets go of the file; a region still being sent keeps it open until it is done. */
    void release() {
        spool.release();
    }
}
