package io.canaryproxy.staticfiles;

import io.canaryproxy.config.EndpointAddress;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.StaticFilesConfig;
import io.canaryproxy.config.StaticFilesSettings;
import io.canaryproxy.config.TransportChoice;
import io.canaryproxy.listener.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FileRegion;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP server on 127.0.0.1 that answers requests under {@code /static/} with {@link StaticFiles#serve}, as
 * the listener does, and every other request with {@code 200 app}, standing in for the upstream.
 */
final class StaticServer implements AutoCloseable {

    static final String PREFIX = "/static/";
    /**
     * Without files from other releases, so that a file's answer varies by what chose the release as it does
     * whenever two releases may hold different files under one name (see StaticFiles#aloneHolding).
     */
    static final StaticFilesSettings SETTINGS = new StaticFilesSettings(16 * 1024 * 1024, 64 * 1024,
            "public, max-age=3600", false);

    private final EventLoopGroup group;
    private final Channel server;
    private final StaticFiles files;
    private final AtomicInteger fileRegions = new AtomicInteger();

    private StaticServer(Transport transport, StaticFiles files) throws InterruptedException {
        this.files = files;
        this.group = transport.newGroup(1, "static-test");
        InetSocketAddress address = new InetSocketAddress("127.0.0.1", 0);
        this.server = new ServerBootstrap()
                .group(group)
                .channelFactory(transport.serverChannel(address))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast(new RegionCounter())
                                .addLast(new HttpServerCodec())
                                .addLast(new ServeHandler());
                    }
                })
                .bind(address)
                .sync()
                .channel();
    }

    /** A server for release "blue" with {@code root} under {@link #PREFIX}, on the best transport. */
    static StaticServer start(Path root) throws InterruptedException {
        return start(Transport.select(TransportChoice.AUTO), root, SETTINGS);
    }

    static StaticServer start(Transport transport, Path root, StaticFilesSettings settings)
            throws InterruptedException {
        return new StaticServer(transport, blue(root, settings));
    }

    /** The static files of a release "blue" with {@code root} under {@link #PREFIX}. */
    static StaticFiles blue(Path root, StaticFilesSettings settings) {
        ReleaseConfig blue = new ReleaseConfig("blue", List.of(EndpointAddress.parse("127.0.0.1:8001")),
                new StaticFilesConfig(PREFIX, root));
        return StaticFiles.forReleases(List.of(blue), settings).get("blue");
    }

    InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + address().getPort() + pathAndQuery);
    }

    /** How many file regions (zero-copy bodies) went out so far. */
    int fileRegions() {
        return fileRegions.get();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** What the listener does with a request: static files for the prefix, close after unless keep-alive. */
    private final class ServeHandler extends SimpleChannelInboundHandler<HttpObject> {

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            // Request bodies arrive as HttpContent and are dropped (released by the superclass).
            if (!(msg instanceof HttpRequest request)) {
                return;
            }
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            if (request.decoderResult().isFailure()) {
                FullHttpResponse bad = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                        HttpResponseStatus.BAD_REQUEST, Unpooled.EMPTY_BUFFER);
                bad.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
                ctx.writeAndFlush(bad).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            if (!files.matches(request.uri())) {
                FullHttpResponse app = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                        Unpooled.copiedBuffer("app", StandardCharsets.US_ASCII));
                app.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 3);
                ctx.writeAndFlush(app);
                return;
            }
            files.serve(ctx, request, keepAlive).addListener(done -> {
                if (!keepAlive) {
                    ctx.close();
                }
            });
        }

        /** A client that leaves mid-download fails the file region's write; ProxyHandler also just closes. */
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Sits next to the socket and counts the file regions the encoder passes through. */
    private final class RegionCounter extends ChannelOutboundHandlerAdapter {

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof FileRegion) {
                fileRegions.incrementAndGet();
            }
            ctx.write(msg, promise);
        }
    }
}
