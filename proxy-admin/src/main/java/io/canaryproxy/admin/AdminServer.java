package io.canaryproxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.AdminConfig;
import io.canaryproxy.internal.AcceptFailureLog;
import io.canaryproxy.listener.Transport;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * The admin HTTP API ({@code /healthz}, {@code /status}, {@code /metrics}, {@code /switch}, {@code /canary},
 * {@code /canary/start}, {@code /canary/pause}, {@code /canary/resume}, {@code /promote}, {@code /rollback},
 * {@code /drain}, {@code /reload}) on its own listener and its own single event-loop thread, so that a busy data
 * plane never delays it and it never delays the data plane.
 *
 * <pre>{@code
 * AdminServer admin = new AdminServer(proxy, config.admin()).start();
 * ...
 * admin.close();
 * }</pre>
 *
 * <p>{@code /metrics} serves the proxy's {@link CanaryProxy#meterRegistry()} when it is (or contains) a
 * {@link PrometheusMeterRegistry}.
 */
public final class AdminServer implements AutoCloseable {

    /** Largest request the admin API reads; its requests carry no body worth mentioning. */
    static final int MAX_REQUEST_BYTES = 64 * 1024;

    private final CanaryProxy proxy;
    private final AdminConfig config;
    private final byte[] token;
    private final ConfigReloader reloader;
    private final PrometheusMeterRegistry prometheus;
    private final ObjectMapper mapper = new ObjectMapper();

    private EventLoopGroup group;
    private Channel channel;
    private boolean closed;

    /**
     * An admin API whose {@code POST /reload} answers 409: the proxy was not started from a config file.
     *
     * @throws IllegalStateException when the listener is not a loopback address and no token is configured
     */
    public AdminServer(CanaryProxy proxy, AdminConfig config) {
        this(proxy, config, ConfigReloader.withoutFile(Objects.requireNonNull(proxy, "proxy"),
                "this proxy was not started from a config file, so there is none to re-read"));
    }

    /**
     * @param reloader what {@code POST /reload} does
     * @throws IllegalStateException when the listener is not a loopback address and no token is configured
     */
    AdminServer(CanaryProxy proxy, AdminConfig config, ConfigReloader reloader) {
        checkExposure(config);
        this.proxy = Objects.requireNonNull(proxy, "proxy");
        this.config = config;
        this.token = hasToken(config) ? config.token().trim().getBytes(StandardCharsets.UTF_8) : null;
        this.reloader = Objects.requireNonNull(reloader, "reloader");
        this.prometheus = prometheus(proxy.meterRegistry());
    }

    /** {@code registry} itself, or the first Prometheus registry inside a composite one, or {@code null}. */
    static PrometheusMeterRegistry prometheus(MeterRegistry registry) {
        if (registry instanceof PrometheusMeterRegistry p) {
            return p;
        }
        if (registry instanceof CompositeMeterRegistry composite) {
            for (MeterRegistry r : composite.getRegistries()) {
                PrometheusMeterRegistry p = prometheus(r);
                if (p != null) {
                    return p;
                }
            }
        }
        return null;
    }

    /**
     * Refuses an admin listener that other machines could reach while mutations need no token.
     *
     * @throws IllegalStateException with a message fit for an operator
     */
    public static void checkExposure(AdminConfig config) {
        Objects.requireNonNull(config, "config");
        if (hasToken(config) || isLoopback(config.listen().host())) {
            return;
        }
        throw new IllegalStateException("refusing to start the admin API on " + config.listen()
                + " without a token: it is not a loopback address, so anyone who reaches it could switch releases;"
                + " set proxy.admin.token, or listen on 127.0.0.1:" + config.listen().port());
    }

    /**
     * Fails when the admin address is taken, before the proxy opens its public port. The admin API is bound after
     * the proxy (it serves the proxy's state), so without this check a taken admin port would let the public port
     * accept clients for the moment before the launcher gives up. Another process may still take the port in
     * between; {@link #start()} then fails as before.
     *
     * @throws StartupException naming the address, e.g. {@code Address already in use}
     */
    public static void checkBindable(AdminConfig config) {
        if (config.listen().port() == 0) {
            return;
        }
        InetSocketAddress address = new InetSocketAddress(config.listen().host(), config.listen().port());
        if (address.isUnresolved()) {
            return; // start() names the problem
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(address, 1);
        } catch (IOException e) {
            throw new StartupException("cannot listen for the admin API on " + config.listen() + ": " + reason(e), e);
        }
    }

    private static boolean hasToken(AdminConfig config) {
        return config.token() != null && !config.token().isBlank();
    }

    /** Whether every address {@code host} names is a loopback address; an unknown or empty host is not. */
    static boolean isLoopback(String host) {
        if (host == null || host.isBlank()) {
            return false;
        }
        try {
            for (InetAddress address : InetAddress.getAllByName(host)) {
                if (!address.isLoopbackAddress()) {
                    return false;
                }
            }
            return true;
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /**
     * Binds the listener.
     *
     * @return this
     * @throws StartupException when the address cannot be bound (in use, not local, no permission)
     */
    public synchronized AdminServer start() {
        if (closed || channel != null) {
            throw new IllegalStateException("the admin server was already started");
        }
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("canary-admin"),
                NioIoHandler.newFactory());
        InetSocketAddress address = new InetSocketAddress(config.listen().host(), config.listen().port());
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loop)
                // 0.0.0.0 takes IPv4 only, as on the public listener; Java's own sockets are dual-stack.
                .channelFactory(Transport.NIO.serverChannel(address))
                .option(ChannelOption.SO_BACKLOG, 64)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // As on the public listener: a connection that sends nothing (a half-sent head, an idle
                        // keep-alive client) does not hold one of the proxy's descriptors for ever.
                        long idle = proxy.config().limits().clientIdleTimeout().toMillis();
                        ch.pipeline()
                                .addLast("idle", new IdleStateHandler(idle, 0, 0, TimeUnit.MILLISECONDS))
                                .addLast("http", new HttpServerCodec())
                                .addLast("aggregator", new JsonAggregator(MAX_REQUEST_BYTES))
                                .addLast("admin", new AdminHandler(proxy, token, mapper, reloader, prometheus,
                                        TimeUnit.MILLISECONDS.toNanos(idle)));
                    }
                });
        ChannelFuture bound;
        try {
            bound = bootstrap.bind(address).awaitUninterruptibly();
        } catch (RuntimeException e) {
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
            throw new StartupException("cannot listen for the admin API on " + config.listen() + ": " + reason(e), e);
        }
        if (!bound.isSuccess()) {
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
            throw new StartupException("cannot listen for the admin API on " + config.listen() + ": "
                    + reason(bound.cause()), bound.cause());
        }
        group = loop;
        channel = bound.channel();
        AcceptFailureLog.install(channel, "the admin API on "
                + NetUtil.toSocketAddressString((InetSocketAddress) channel.localAddress()));
        return this;
    }

    /** The address the listener is bound to (the real port when the config asked for port 0). */
    public synchronized InetSocketAddress address() {
        if (channel == null) {
            throw new IllegalStateException("the admin server is not started");
        }
        return (InetSocketAddress) channel.localAddress();
    }

    /** Closes the listener and every admin connection, including those waiting for a drain. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (channel != null) {
            channel.close().syncUninterruptibly();
        }
        if (group != null) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** Answers a request above the size limit with a JSON 413, like every other error of the admin API. */
    private static final class JsonAggregator extends HttpObjectAggregator {

        JsonAggregator(int maxContentLength) {
            super(maxContentLength);
        }

        /** The answer to {@code Expect: 100-continue} for a body that is too large is the same JSON as below. */
        @Override
        protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
            Object answer = super.newContinueResponse(start, maxContentLength, pipeline);
            if (answer instanceof HttpResponse r
                    && r.status().code() == HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE.code()) {
                ReferenceCountUtil.release(answer);
                return tooLarge();
            }
            return answer;
        }

        private FullHttpResponse tooLarge() {
            byte[] body = ("{\"error\": \"request body larger than " + maxContentLength() / 1024 + " KiB\"}\n")
                    .getBytes(StandardCharsets.UTF_8);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, Unpooled.wrappedBuffer(body));
            response.headers()
                    .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            return response;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
            if (!(oversized instanceof HttpRequest)) {
                super.handleOversizedMessage(ctx, oversized);
                return;
            }
            FullHttpResponse response = tooLarge();
            if (HttpUtil.isKeepAlive(oversized)) {
                // The aggregator drops the rest of the body; closing now, with the client still sending it, would
                // reset the connection and lose this answer.
                ctx.writeAndFlush(response);
            } else {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }
    }

    /** A bind failure as an operator reads it: {@code Address already in use}. */
    static String reason(Throwable cause) {
        if (cause instanceof UnresolvedAddressException) {
            return "cannot resolve the host name";
        }
        if (cause instanceof BindException && cause.getMessage() != null) {
            return cause.getMessage();
        }
        String message = cause.getMessage();
        return message == null ? cause.getClass().getSimpleName() : message;
    }
}
