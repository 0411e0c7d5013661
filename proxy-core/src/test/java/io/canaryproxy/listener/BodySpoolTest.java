package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.FileRegion;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A spool gathers small appends in its staging buffer; what a region reads is every byte, in order. */
class BodySpoolTest {

    @TempDir
    Path dir;

    private final RecordingAllocator alloc = new RecordingAllocator();

    @Test
    void manySmallPiecesAndSomeLargeOnesComeBackWholeAndInOrder() throws IOException {
        Random random = new Random(7);
        byte[] body = new byte[3 * BodySpool.STAGING_SIZE + 12_345];
        random.nextBytes(body);
        BodySpool spool = BodySpool.create(dir, alloc);
        int at = 0;
        while (at < body.length) {
            // Mostly one to three bytes, as a client sending tiny chunks; now and then a piece larger than the room
            // left in the staging buffer, or than the whole of it.
            int n = switch (random.nextInt(2000)) {
                case 0 -> BodySpool.STAGING_SIZE;
                case 1 -> BodySpool.STAGING_SIZE + 1;
                case 2 -> BodySpool.STAGING_SIZE - 1;
                default -> 1 + random.nextInt(3);
            };
            n = Math.min(n, body.length - at);
            append(spool, body, at, n);
            at += n;
            assertThat(spool.length()).isEqualTo(at);
        }
        spool.finish();

        assertThat(read(spool, 0, body.length)).isEqualTo(body);
        assertThat(read(spool, 5, 100)).isEqualTo(Arrays.copyOfRange(body, 5, 105));
        spool.release();
        assertThat(alloc.allReleased()).isTrue();
    }

    @Test
    void aPieceThatFillsTheStagingBufferExactlyIsKeptToo() throws IOException {
        byte[] body = new byte[2 * BodySpool.STAGING_SIZE + 2];
        new Random(11).nextBytes(body);
        BodySpool spool = BodySpool.create(dir, alloc);
        append(spool, body, 0, 1);
        append(spool, body, 1, BodySpool.STAGING_SIZE - 1);
        append(spool, body, BodySpool.STAGING_SIZE, BodySpool.STAGING_SIZE);
        append(spool, body, 2 * BodySpool.STAGING_SIZE, 2);
        spool.finish();

        assertThat(spool.length()).isEqualTo(body.length);
        assertThat(read(spool, 0, body.length)).isEqualTo(body);
        spool.release();
    }

    @Test
    void theLengthCountsWhatIsStillStaged() throws IOException {
        BodySpool spool = BodySpool.create(dir, alloc);
        append(spool, new byte[] {1, 2, 3}, 0, 3);

        assertThat(spool.length()).isEqualTo(3);
        spool.finish();
        assertThat(spool.length()).isEqualTo(3);
        assertThat(read(spool, 0, 3)).containsExactly(1, 2, 3);
        spool.release();
    }

    @Test
    void finishingGivesTheStagingBufferBackBeforeTheSpoolGoes() throws IOException {
        BodySpool spool = BodySpool.create(dir, alloc);
        append(spool, new byte[] {1}, 0, 1);
        spool.finish();

        assertThat(alloc.allReleased()).isTrue();
        assertThatThrownBy(() -> append(spool, new byte[] {2}, 0, 1)).isInstanceOf(IllegalStateException.class);
        spool.release();
    }

    @Test
    void aSpoolLetGoOfBeforeItsBodyEndedReleasesItsStagingBuffer() throws IOException {
        BodySpool spool = BodySpool.create(dir, alloc);
        append(spool, new byte[100], 0, 100);

        assertThat(alloc.allReleased()).isFalse();
        spool.release();
        assertThat(alloc.allReleased()).isTrue();
    }

    @Test
    void noRegionIsMadeOfABodyStillStaged() throws IOException {
        BodySpool spool = BodySpool.create(dir, alloc);
        append(spool, new byte[10], 0, 10);

        assertThatThrownBy(() -> spool.region(0, 10)).isInstanceOf(IllegalStateException.class);
        assertThat(spool.refCnt()).isEqualTo(1);
        spool.release();
    }

    /** A response buffer is read while it is written: a flush makes what came so far readable, appends go on. */
    @Test
    void whatIsFlushedCanBeReadWhileAppendsGoOn() throws IOException {
        BodySpool spool = BodySpool.create(dir, "canary-proxy-response-", alloc);
        try {
            byte[] body = new byte[3 * BodySpool.STAGING_SIZE];
            for (int i = 0; i < body.length; i++) {
                body[i] = (byte) (i * 7);
            }
            append(spool, body, 0, 1000);
            assertThat(spool.written()).isZero();
            spool.flush();
            assertThat(spool.written()).isEqualTo(1000);
            assertThat(read(spool, 0, 1000)).isEqualTo(Arrays.copyOfRange(body, 0, 1000));

            append(spool, body, 1000, 1000);
            assertThat(spool.written()).isEqualTo(1000);
            assertThatThrownBy(() -> spool.region(500, 1000)).isInstanceOf(IllegalStateException.class);
            append(spool, body, 2000, body.length - 2000);
            spool.flush();
            assertThat(spool.written()).isEqualTo(body.length);
            assertThat(read(spool, 1000, body.length - 1000)).isEqualTo(Arrays.copyOfRange(body, 1000, body.length));
        } finally {
            spool.release();
        }
        assertThat(alloc.allReleased()).isTrue();
    }

    private static void append(BodySpool spool, byte[] body, int from, int count) throws IOException {
        // A slice with a reader index of its own, as the decoder passes pieces on; the spool must leave it alone.
        ByteBuf piece = Unpooled.wrappedBuffer(body).slice(from, count);
        int readerIndex = piece.readerIndex();
        spool.append(piece);
        assertThat(piece.readerIndex()).isEqualTo(readerIndex);
        assertThat(piece.refCnt()).isEqualTo(1);
    }

    private static byte[] read(BodySpool spool, long position, int count) throws IOException {
        FileRegion region = spool.region(position, count);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream(count);
            WritableByteChannel channel = Channels.newChannel(out);
            while (region.transferred() < region.count()) {
                region.transferTo(channel, region.transferred());
            }
            return out.toByteArray();
        } finally {
            region.release();
        }
    }

    /** Unpooled direct buffers, each one remembered, so that a test can tell whether all went back. */
    private static final class RecordingAllocator extends AbstractByteBufAllocator {
        private final List<ByteBuf> allocated = new ArrayList<>();

        RecordingAllocator() {
            super(true);
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            ByteBuf buf = Unpooled.directBuffer(initialCapacity, maxCapacity);
            allocated.add(buf);
            return buf;
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return newDirectBuffer(initialCapacity, maxCapacity);
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }

        boolean allReleased() {
            return allocated.stream().allMatch(buf -> buf.refCnt() == 0);
        }
    }
}
