package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.CharsetUtil;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.Test;

/** The head checks hold however the bytes are cut into reads: the scanner's state spans them. */
class StrictRequestDecoderTest {

    @Test
    void secondHostHeaderIsRefusedWhenTheHeadComesOneByteAtATime() {
        EmbeddedChannel channel = decoderChannel();
        writeOneByteAtATime(channel, "GET / HTTP/1.1\r\nHost: a\r\nhOsT: b\r\n\r\n");

        HttpRequest request = channel.readInbound();
        assertThat(request.decoderResult().isFailure()).isTrue();
        assertThat(request.decoderResult().cause())
                .isInstanceOf(StrictRequestDecoder.ProtocolViolation.class)
                .hasMessage("more than one Host header");
        assertThat((Object) channel.readInbound()).as("nothing after the refusal").isNull();
        channel.finishAndReleaseAll();
    }

    @Test
    void hostIsCountedPerRequestOnAKeepAliveConnection() {
        EmbeddedChannel channel = decoderChannel();
        writeOneByteAtATime(channel, "GET /1 HTTP/1.1\r\nHost: a\r\nHostname: b\r\n\r\n"
                + "GET /2 HTTP/1.1\r\nX-Host: c\r\nHost: a\r\n\r\n");

        for (String uri : new String[] {"/1", "/2"}) {
            HttpRequest request = channel.readInbound();
            assertThat(request.decoderResult().isSuccess()).as(uri).isTrue();
            assertThat(request.uri()).isEqualTo(uri);
            assertThat(request.headers().get("Host")).isEqualTo("a");
            assertRequestEnds(channel);
        }
        channel.finishAndReleaseAll();
    }

    @Test
    void headersSizedFromTheScanKeepEveryHeaderWhateverTheReads() {
        String small = "GET /small HTTP/1.1\r\nHost: a\r\n\r\n";
        String large = "GET /large HTTP/1.1\r\nHost: a\r\n" + numberedHeaders(20) + "\r\n";
        String pipelined = small + large + small;
        int cut = pipelined.indexOf("X-7:");

        EmbeddedChannel channel = decoderChannel();
        // The cut leaves the second head unfinished when its request line is parsed: its headers start from the
        // default room and must grow; the first and third are sized exactly.
        channel.writeInbound(Unpooled.copiedBuffer(pipelined.substring(0, cut), CharsetUtil.US_ASCII));
        channel.writeInbound(Unpooled.copiedBuffer(pipelined.substring(cut), CharsetUtil.US_ASCII));

        assertHeaders(channel, "/small", 0);
        assertHeaders(channel, "/large", 20);
        assertHeaders(channel, "/small", 0);
        channel.finishAndReleaseAll();
    }

    private static String numberedHeaders(int count) {
        StringBuilder headers = new StringBuilder();
        for (int i = 0; i < count; i++) {
            headers.append("X-").append(i).append(": v").append(i).append("\r\n");
        }
        return headers.toString();
    }

    private static void assertHeaders(EmbeddedChannel channel, String uri, int numbered) {
        HttpRequest request = channel.readInbound();
        assertThat(request.decoderResult().isSuccess()).as(uri).isTrue();
        assertThat(request.uri()).isEqualTo(uri);
        RequestHeaders headers = (RequestHeaders) request.headers();
        assertThat(headers.size()).isEqualTo(1 + numbered);
        assertThat(headers.name(0).toString()).isEqualToIgnoringCase("Host");
        for (int i = 0; i < numbered; i++) {
            assertThat(headers.name(1 + i).toString()).isEqualTo("X-" + i);
            assertThat(headers.value(1 + i).toString()).isEqualTo("v" + i);
        }
        assertRequestEnds(channel);
    }

    private static void assertRequestEnds(EmbeddedChannel channel) {
        Object end = channel.readInbound();
        assertThat(end).isInstanceOf(LastHttpContent.class);
        ReferenceCountUtil.release(end);
    }

    private static EmbeddedChannel decoderChannel() {
        return new EmbeddedChannel(new StrictRequestDecoder(StrictRequestDecoder.config(4096, 8192)));
    }

    private static void writeOneByteAtATime(EmbeddedChannel channel, String head) {
        for (byte b : head.getBytes(CharsetUtil.US_ASCII)) {
            channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
        }
    }
}
