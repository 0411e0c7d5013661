package io.canaryproxy.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Tiny HTTP servers standing in for the application in demo mode: one per release on {@code 127.0.0.1} and an
 * ephemeral port, answering every path with {@code 200 Hello from NAME} and a {@code X-Release: NAME} header, and
 * {@code /healthz} with {@code 200 ok}. Request bodies of any size are read and discarded.
 */
public final class DemoBackends implements AutoCloseable {

    private final EventLoopGroup group;
    private final Map<String, Channel> channels;

    private DemoBackends(EventLoopGroup group, Map<String, Channel> channels) {
        this.group = group;
        this.channels = channels;
    }

    /** Starts one backend per release name. */
    public static DemoBackends start(String... releases) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("canary-demo"),
                NioIoHandler.newFactory());
        Map<String, Channel> channels = new LinkedHashMap<>();
        try {
            for (String release : releases) {
                ChannelFuture bound = new ServerBootstrap()
                        .group(group)
                        .channel(NioServerSocketChannel.class)
                        .childHandler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ch.pipeline().addLast(new HttpServerCodec(), new Backend(release));
                            }
                        })
                        .bind(new InetSocketAddress("127.0.0.1", 0))
                        .syncUninterruptibly();
                channels.put(release, bound.channel());
            }
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
            throw new StartupException("cannot start the demo backends: " + e.getMessage(), e);
        }
        return new DemoBackends(group, channels);
    }

    /** Where the backend of {@code release} listens. */
    public InetSocketAddress address(String release) {
        Channel channel = channels.get(release);
        if (channel == null) {
            throw new IllegalArgumentException("no demo backend for release " + release);
        }
        return (InetSocketAddress) channel.localAddress();
    }

    /** Release name to address, in the order the backends were started. */
    public Map<String, InetSocketAddress> addresses() {
        Map<String, InetSocketAddress> addresses = new LinkedHashMap<>();
        channels.keySet().forEach(release -> addresses.put(release, address(release)));
        return Collections.unmodifiableMap(addresses);
    }

    @Override
    public void close() {
        channels.values().forEach(channel -> channel.close().syncUninterruptibly());
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Answers once a request has been read completely, so that uploads are consumed, not cut short. */
    private static final class Backend extends SimpleChannelInboundHandler<HttpObject> {

        private final String release;
        private boolean keepAlive;
        private String path = "/";

        Backend(String release) {
            this.release = release;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpRequest request) {
                if (request.decoderResult().isFailure()) {
                    path = null;
                    answer(ctx, HttpResponseStatus.BAD_REQUEST, "bad request\n", false);
                    return;
                }
                keepAlive = HttpUtil.isKeepAlive(request);
                path = new QueryStringDecoder(request.uri()).rawPath();
                if (HttpUtil.is100ContinueExpected(request)) {
                    ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                            Unpooled.EMPTY_BUFFER));
                }
            }
            if (msg instanceof LastHttpContent && path != null) {
                String body = "/healthz".equals(path) ? "ok\n" : "Hello from " + release + "\n";
                answer(ctx, HttpResponseStatus.OK, body, keepAlive);
            }
        }

        private void answer(ChannelHandlerContext ctx, HttpResponseStatus status, String body, boolean keepAlive) {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                    Unpooled.wrappedBuffer(bytes));
            response.headers()
                    .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length)
                    .set("X-Release", release);
            HttpUtil.setKeepAlive(response, keepAlive);
            if (keepAlive) {
                ctx.writeAndFlush(response, ctx.voidPromise());
            } else {
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
