package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Frame ends are found whatever the length encoding, masking, and however the bytes are split. */
class WebSocketFramesTest {

    /** A text frame (fin set) with {@code payload} bytes, its length in the shortest form, masked if asked. */
    private static byte[] frame(int payload, boolean masked) {
        int lengthBytes = payload < 126 ? 0 : payload < 65536 ? 2 : 8;
        byte[] f = new byte[2 + lengthBytes + (masked ? 4 : 0) + payload];
        f[0] = (byte) 0x81;
        int mask = masked ? 0x80 : 0;
        if (lengthBytes == 0) {
            f[1] = (byte) (mask | payload);
        } else if (lengthBytes == 2) {
            f[1] = (byte) (mask | 126);
            f[2] = (byte) (payload >>> 8);
            f[3] = (byte) payload;
        } else {
            f[1] = (byte) (mask | 127);
            for (int i = 0; i < 8; i++) {
                f[2 + i] = (byte) ((long) payload >>> (56 - 8 * i));
            }
        }
        // Payload bytes that look like headers, so that a lost count would show.
        for (int i = f.length - payload; i < f.length; i++) {
            f[i] = (byte) 0x88;
        }
        return f;
    }

    @Test
    void findsEveryFrameEndWhereverTheBytesAreSplit() {
        List<byte[]> frames = List.of(frame(0, false), frame(5, false), frame(125, false), frame(126, false),
                frame(300, true), frame(70_000, false), frame(1, true));
        List<Integer> ends = new ArrayList<>();
        int total = 0;
        for (byte[] f : frames) {
            total += f.length;
            ends.add(total);
        }
        ByteBuf stream = Unpooled.buffer(total);
        frames.forEach(stream::writeBytes);

        for (int split = 0; split <= total; split += split < 400 ? 1 : 997) {
            WebSocketFrames tracker = new WebSocketFrames();
            assertThat(tracker.atBoundary()).isTrue();
            assertThat(tracker.follow(stream, 0, split, false)).isEqualTo(split);
            assertThat(tracker.atBoundary()).as("after %d bytes", split).isEqualTo(split == 0 || ends.contains(split));
            if (!tracker.atBoundary()) {
                // Going away: only up to the end of the frame under way.
                int at = split;
                int next = ends.stream().filter(e -> e > at).findFirst().orElseThrow();
                int taken = tracker.follow(stream, split, total - split, true);
                assertThat(split + taken).as("stop after %d bytes", split).isEqualTo(next);
                assertThat(tracker.atBoundary()).isTrue();
            }
        }
        stream.release();
    }

    @Test
    void atAFrameEndThereIsNothingToWaitFor() {
        ByteBuf two = Unpooled.wrappedBuffer(frame(3, false), frame(3, false));
        WebSocketFrames tracker = new WebSocketFrames();
        assertThat(tracker.follow(two, 0, 5, false)).isEqualTo(5);
        assertThat(tracker.atBoundary()).isTrue();
        assertThat(tracker.follow(two, 5, 5, true)).isZero();
        two.release();
    }

    /** The app's own Close is noted: a second one must not follow it (RFC 6455 5.5.1). */
    @Test
    void aCloseFromTheAppIsNoted() {
        byte[] close = {(byte) 0x88, 2, 0x03, (byte) 0xe8};
        ByteBuf stream = Unpooled.wrappedBuffer(frame(3, false), close);
        WebSocketFrames tracker = new WebSocketFrames();
        tracker.follow(stream, 0, 5, false);
        assertThat(tracker.closeSent()).isFalse();
        tracker.follow(stream, 5, 4, false);
        assertThat(tracker.closeSent()).isTrue();
        assertThat(tracker.atBoundary()).isTrue();
        stream.release();
    }

    /** A length with its top bit set is no frame: the tracker says it lost the frames rather than guess. */
    @Test
    void anImpossibleLengthLosesTheFrames() {
        byte[] bad = {(byte) 0x82, 127, (byte) 0x80, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9};
        ByteBuf stream = Unpooled.wrappedBuffer(bad);
        WebSocketFrames tracker = new WebSocketFrames();
        assertThat(tracker.follow(stream, 0, bad.length, false)).isEqualTo(bad.length);
        assertThat(tracker.followed()).isFalse();
        assertThat(tracker.atBoundary()).isFalse();
        stream.release();
    }

    @Test
    void theGoingAwayFrameIsACloseWithStatus1001() {
        ByteBuf close = WebSocketFrames.goingAway();
        assertThat(close.readableBytes()).isEqualTo(4);
        assertThat(close.getUnsignedByte(0)).isEqualTo((short) 0x88);
        assertThat(close.getUnsignedByte(1)).isEqualTo((short) 2);
        assertThat(close.getUnsignedShort(2)).isEqualTo(1001);
    }
}
