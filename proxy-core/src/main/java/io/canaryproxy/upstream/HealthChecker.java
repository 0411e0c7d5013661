package io.canaryproxy.upstream;

import io.canaryproxy.config.HealthCheckConfig;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Active health checks of one endpoint: every {@code interval}, a {@code GET path} on a fresh connection (never a
 * pooled one, and not counted as a proxy connection). A 2xx or 3xx status within {@code timeout} is a success.
 * State lives on one event loop; the endpoint's health flag is the only thing other threads read.
 */
final class HealthChecker {

    private final Endpoint endpoint;
    private final EventLoop loop;
    private final HealthCheckConfig config;
    private final Bootstrap bootstrap;
    private int successes;
    private int failures;
    private boolean stopped;
    private ScheduledFuture<?> next;

    HealthChecker(Endpoint endpoint, EventLoop loop, HealthCheckConfig config) {
        this.endpoint = endpoint;
        this.loop = loop;
        this.config = config;
        this.bootstrap = new Bootstrap()
                .group(loop)
                .channel(endpoint.channelType())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.timeout().toMillis())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        endpoint.release().track(ch);
                        ch.pipeline().addLast(new HttpClientCodec(), new Probe());
                    }
                });
    }

    void start() {
        loop.execute(this::check);
    }

    void stop() {
        loop.execute(() -> {
            stopped = true;
            if (next != null) {
                next.cancel(false);
            }
        });
    }

    private void check() {
        if (stopped) {
            return;
        }
        long startedAt = System.nanoTime();
        ChannelFuture connect = bootstrap.connect(endpoint.socketAddress());
        Channel ch = connect.channel();
        ScheduledFuture<?> timeout = loop.schedule(() -> {
            Probe p = ch.pipeline().get(Probe.class);
            if (p != null) {
                p.finish(false, "no answer within " + config.timeout().toMillis() + " ms");
            }
        }, config.timeout().toNanos(), TimeUnit.NANOSECONDS);
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                timeout.cancel(false);
                // One result per check: the channel's close, which follows, must not count it again.
                Probe p = ch.pipeline().get(Probe.class);
                if (p != null) {
                    p.finish(false, "connect failed: " + f.cause());
                } else {
                    result(false, "connect failed: " + f.cause());
                }
                return;
            }
            DefaultFullHttpRequest probe = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
                    config.path());
            probe.headers().set(HttpHeaderNames.HOST, "localhost");
            probe.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            probe.headers().set(HttpHeaderNames.USER_AGENT, "canary-proxy-health-check");
            ch.writeAndFlush(probe);
        });
        ch.closeFuture().addListener(f -> {
            timeout.cancel(false);
            Probe p = ch.pipeline().get(Probe.class);
            if (p != null) {
                p.finish(false, "connection closed without an answer");
            }
        });
        next = loop.schedule(this::check, Math.max(0, config.interval().toNanos() - (System.nanoTime() - startedAt)),
                TimeUnit.NANOSECONDS);
    }

    private void result(boolean ok, String why) {
        if (ok) {
            failures = 0;
            if (++successes >= config.rise()) {
                endpoint.setHealthy(true, why);
            }
        } else {
            successes = 0;
            if (++failures >= config.fall()) {
                endpoint.setHealthy(false, why);
            }
        }
    }

    private final class Probe extends ChannelInboundHandlerAdapter {
        private boolean done;
        private Channel channel;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            channel = ctx.channel();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpResponse) {
                    int code = ((HttpResponse) msg).status().code();
                    boolean ok = code >= 200 && code < 400;
                    finish(ok, "GET " + config.path() + " answered " + code);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish(false, "health check failed: " + cause);
        }

        void finish(boolean ok, String why) {
            if (!done) {
                done = true;
                result(ok, why);
                channel.close();
            }
        }
    }
}
