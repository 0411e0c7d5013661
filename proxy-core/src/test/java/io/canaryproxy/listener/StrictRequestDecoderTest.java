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
            Object end = channel.readInbound();
            assertThat(end).isInstanceOf(LastHttpContent.class);
            ReferenceCountUtil.release(end);
        }
        channel.finishAndReleaseAll();
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
