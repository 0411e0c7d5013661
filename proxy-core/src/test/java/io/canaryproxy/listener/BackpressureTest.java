package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.testing.Captured;
import io.canaryproxy.testing.TestConfigs;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bodies stream both ways without the proxy holding them in memory: a client that stops reading stops the
 * upstream's response once {@code upstream.max-response-buffer} of it waits on disk (at once with none), and an
 * upstream that stops reading stops the client's upload. Each side's progress must level off at a few socket
 * buffers beyond that, where a proxy without limits would take everything.
 */
class BackpressureTest {

    private static final int CHUNK = 16 * 1024;
    private static final long LIMIT = 256L * 1024 * 1024;

    private EventLoopGroup group;
    private Channel backend;
    private CanaryProxy proxy;
    private final AtomicLong sentByBackend = new AtomicLong();
    private final AtomicLong readByBackend = new AtomicLong();
    private volatile boolean backendReads = true;

    @BeforeEach
    void start() {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        backend = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new Streamer());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
        int port = ((InetSocketAddress) backend.localAddress()).getPort();
        proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + port, """
                proxy.limits.max-body-size = 1g
                proxy.drain.timeout = 1s
                proxy.upstream.max-response-buffer = 0
                """));
    }

    @AfterEach
    void stop() {
        proxy.close();
        backend.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** GET /download: an endless chunked body, written only while the connection can take it. POST: read. */
    private final class Streamer extends ChannelInboundHandlerAdapter {
        private boolean streaming;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpRequest && ((HttpRequest) msg).uri().equals("/download")) {
                HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
                HttpUtil.setTransferEncodingChunked(head, true);
                ctx.writeAndFlush(head);
                streaming = true;
                pump(ctx);
            } else if (msg instanceof HttpRequest) {
                if (!backendReads) {
                    ctx.channel().config().setAutoRead(false);
                }
            } else if (msg instanceof io.netty.handler.codec.http.HttpContent) {
                readByBackend.addAndGet(((io.netty.handler.codec.http.HttpContent) msg).content().readableBytes());
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            pump(ctx);
        }

        private void pump(ChannelHandlerContext ctx) {
            while (streaming && ctx.channel().isWritable() && sentByBackend.get() < LIMIT) {
                ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(new byte[CHUNK])))
                        .addListener(f -> {
                            if (f.isSuccess()) {
                                sentByBackend.addAndGet(CHUNK);
                            }
                        });
            }
        }
    }

    /** Waits until {@code counter} stops moving for a second, and returns where it stopped. */
    private static long levelsOff(AtomicLong counter) {
        long[] last = {-1};
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofSeconds(1)).until(() -> {
            long now = counter.get();
            boolean still = now == last[0];
            last[0] = now;
            return still;
        });
        return last[0];
    }

    @Test
    void aClientThatStopsReadingStopsTheUpstream() throws Exception {
        clientStopsTheUpstreamBeyond(0);
    }

    @Test
    void aClientThatStopsReadingStopsTheUpstreamOnceItsBufferIsFull() throws Exception {
        restart("proxy.upstream.max-response-buffer = 16m\n");
        clientStopsTheUpstreamBeyond(16L * 1024 * 1024);
    }

    private void restart(String extra) {
        proxy.close();
        proxy = CanaryProxy.start(TestConfigs.single("127.0.0.1:" + ((InetSocketAddress) backend.localAddress())
                .getPort(), "proxy.drain.timeout = 1s\n" + extra));
    }

    private void clientStopsTheUpstreamBeyond(long buffer) throws Exception {
        try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setReceiveBufferSize(64 * 1024);
            client.getOutputStream().write("GET /download HTTP/1.1\r\nHost: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            // The client reads nothing.
            long stalled = levelsOff(sentByBackend);
            assertThat(stalled).as("bytes the upstream could send to a client reading nothing")
                    .isGreaterThanOrEqualTo(buffer).isPositive().isLessThan(buffer + 32L * 1024 * 1024);

            // Reading again lets the stream go on.
            byte[] buf = new byte[64 * 1024];
            long read = 0;
            while (read < stalled + 8L * 1024 * 1024) {
                int n = client.getInputStream().read(buf);
                assertThat(n).isPositive();
                read += n;
            }
            assertThat(sentByBackend.get()).isGreaterThan(stalled);
        }
    }

    /** The upstream is silent because the proxy does not read it: that is no upstream timeout. */
    @Test
    void aClientPausedLongerThanTheResponseTimeoutStillGetsTheWholeStream() throws Exception {
        restart("proxy.upstream.response-timeout = 1s\nproxy.upstream.max-response-buffer = 0\n");
        clientStopsTheUpstreamBeyond(0);
    }

    /** Nor when the proxy stopped reading it because the buffer is full. */
    @Test
    void aClientPausedLongerThanTheResponseTimeoutWithAFullBufferStillGetsTheWholeStream() throws Exception {
        restart("proxy.upstream.response-timeout = 1s\nproxy.upstream.max-response-buffer = 4m\n");
        clientStopsTheUpstreamBeyond(4L * 1024 * 1024);
    }

    /** A client that takes nothing of a response for the client idle timeout frees its upstream connection. */
    @Test
    void aClientThatReadsNothingForTheIdleTimeoutIsDisconnected() throws Exception {
        restart("proxy.limits.client-idle-timeout = 2s\nproxy.upstream.max-response-buffer = 0\n");
        try (Captured logged = Captured.from(ProxyHandler.class);
             Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
            client.setReceiveBufferSize(64 * 1024);
            client.getOutputStream().write("GET /download HTTP/1.1\r\nHost: x\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 1);
            await().atMost(Duration.ofSeconds(20))
                    .until(() -> proxy.status().releases().get("blue").inflight() == 0);
            // The proxy cut a response: an operator can find it when a user reports a broken download.
            assertThat(logged.messages()).anySatisfy(m -> assertThat(m)
                    .matches("200 GET /download \\(release blue\\): client 127\\.0\\.0\\.1 took no more of the"
                            + " response for \\d+ ms; closed before its end"));
            // What was on its way is still there to read, then the end of the connection.
            client.setSoTimeout(10_000);
            byte[] buf = new byte[64 * 1024];
            long read = 0;
            int n;
            while ((n = client.getInputStream().read(buf)) > 0) {
                read += n;
            }
            assertThat(n).isEqualTo(-1);
            assertThat(read).isLessThan(32L * 1024 * 1024);
        }
    }

    @Test
    void anUpstreamThatStopsReadingStopsTheClientsUpload() throws Exception {
        backendReads = false;
        AtomicLong sentByClient = new AtomicLong();
        Thread uploader = new Thread(() -> {
            try (Socket client = new Socket("127.0.0.1", proxy.listenAddress().getPort())) {
                client.setSendBufferSize(64 * 1024);
                OutputStream out = client.getOutputStream();
                // With a Content-Length: a chunked body is collected before it goes upstream (see ChunkedUploadTest).
                out.write(("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + LIMIT + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                byte[] chunk = "u".repeat(CHUNK).getBytes(StandardCharsets.US_ASCII);
                while (sentByClient.get() < LIMIT) {
                    out.write(chunk);
                    sentByClient.addAndGet(CHUNK);
                }
            } catch (Exception expected) {
                // the test closes the proxy under it
            }
        }, "uploader");
        uploader.setDaemon(true);
        uploader.start();

        long stalled = levelsOff(sentByClient);
        assertThat(stalled).as("bytes a client could upload to an upstream reading nothing")
                .isPositive().isLessThan(32L * 1024 * 1024);
        assertThat(readByBackend.get()).isLessThan(stalled);
    }
}
