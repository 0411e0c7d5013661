package io.canaryproxy.upstream;

import io.canaryproxy.config.HealthCheckConfig;
import io.canaryproxy.internal.Descriptors;
import io.canaryproxy.internal.IoFailures;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Active health checks of one endpoint: every {@code interval}, a {@code GET path} on a fresh connection (never a
 * pooled one, and not counted as a proxy connection). A 2xx or 3xx answer read whole within {@code timeout}, by
 * the parser requests go through, is a success.
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

    /** A probe's result: the endpoint answered in time, or it did not, or the proxy could not make the check. */
    private enum Outcome { PASSED, FAILED, NOT_MADE }

    /** Where a probe's one result goes, with why it passed or why not. */
    private interface Result {
        void accept(Outcome outcome, String why);
    }

    HealthChecker(Endpoint endpoint, EventLoop loop, HealthCheckConfig config) {
        this.endpoint = endpoint;
        this.loop = loop;
        this.config = config;
        this.bootstrap = new Bootstrap()
                .group(loop)
                .channel(endpoint.channelType())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.timeout().toMillis());
    }

    Endpoint endpoint() {
        return endpoint;
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

    /**
     * One check now, outside the schedule: completes with {@code null} when the endpoint answers, or with the reason
     * it did not. An answer makes the endpoint healthy at once (and ends an ejection): a release that was just let
     * through a switch must not be taken for unhealthy by what its last scheduled checks said, or its users would go
     * elsewhere and a canary run would roll it back at once. A failure changes nothing; the scheduled checks
     * decide that.
     */
    CompletableFuture<String> probeNow() {
        CompletableFuture<String> answer = new CompletableFuture<>();
        loop.execute(() -> probe(config.probeTimeout(), (outcome, why) -> {
            boolean ok = outcome == Outcome.PASSED;
            if (ok) {
                failures = 0;
                successes = config.rise();
                endpoint.checkPassed(why + " when asked");
                endpoint.setHealthy(true, why + " when asked");
            }
            answer.complete(ok ? null : why);
        }));
        return answer;
    }

    private void check() {
        if (stopped) {
            return;
        }
        long startedAt = System.nanoTime();
        probe(config.timeout(), this::result);
        next = loop.schedule(this::check, Math.max(0, config.interval().toNanos() - (System.nanoTime() - startedAt)),
                TimeUnit.NANOSECONDS);
    }

    /** {@code GET path} on a fresh connection, within {@code timeout}; {@code done} gets exactly one result. */
    private void probe(Duration timeout, Result done) {
        Probe probe = new Probe(done);
        ChannelFuture connect = bootstrap.clone()
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeout.toMillis())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        endpoint.release().track(ch);
                        ch.pipeline().addLast(new ResponseDecoder(ResponseDecoder.MAX_HEAD_SIZE), probe);
                    }
                }).connect(endpoint.socketAddress());
        Channel ch = connect.channel();
        probe.channel = ch;
        probe.timeout = loop.schedule(
                () -> probe.finish(Outcome.FAILED, "no answer within " + timeout.toMillis() + " ms"),
                timeout.toNanos(), TimeUnit.NANOSECONDS);
        ConnectResults.onLoop(connect, loop, () -> connected(probe, connect));
    }

    private void connected(Probe probe, ChannelFuture connect) {
        if (!connect.isSuccess()) {
            Throwable cause = connect.cause();
            if (IoFailures.isOutOfDescriptors(cause)) {
                Descriptors.report("make a health check of " + endpoint + " of release " + endpoint.release().name());
                probe.finish(Outcome.NOT_MADE, Descriptors.shortage());
            } else {
                probe.finish(Outcome.FAILED, "connect failed: " + IoFailures.describeConnect(cause));
            }
            return;
        }
        connect.channel().writeAndFlush(Unpooled.copiedBuffer("GET " + config.path()
                + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: canary-proxy-health-check\r\n\r\n",
                StandardCharsets.US_ASCII));
    }

    private void result(Outcome outcome, String why) {
        if (outcome == Outcome.NOT_MADE) {
            return; // the proxy's own shortage says nothing of the endpoint: its health stays as it was
        }
        if (outcome == Outcome.PASSED) {
            failures = 0;
            endpoint.checkPassed(why);
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
        private final Result done;
        private boolean finished;
        private int status;
        Channel channel;
        ScheduledFuture<?> timeout;

        Probe(Result done) {
            this.done = done;
        }

        /**
         * The answer is read whole, by the decoder requests go through: an endpoint whose answers the proxy
         * refuses (two Content-Length values, a bad chunk) would fail every request while its check passed.
         */
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ResponseHead head) {
                status = head.status();
            } else if (msg instanceof ResponseEnd end) {
                ReferenceCountUtil.release(end.trailers);
                finish(status >= 200 && status < 400 ? Outcome.PASSED : Outcome.FAILED,
                        "GET " + config.path() + " answered " + status);
            } else if (msg instanceof ResponseDecoder.Malformed malformed) {
                finish(Outcome.FAILED, "GET " + config.path() + " got a malformed answer: " + malformed.reason);
            }
        }

        /**
         * After the decoder has ended a body delimited by the close. Only a connected channel goes inactive: a
         * failed connect is told by the connect's listener, with its reason.
         */
        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            finish(Outcome.FAILED, status == 0 ? "connection closed without an answer"
                    : "GET " + config.path() + " answered " + status + ", then closed before the end of the body");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish(Outcome.FAILED, "health check failed: " + IoFailures.describe(cause));
        }

        void finish(Outcome outcome, String why) {
            if (!finished) {
                finished = true;
                if (timeout != null) {
                    timeout.cancel(false);
                }
                try {
                    done.accept(outcome, why);
                } finally {
                    // A channel that could not be made was never registered, and closing one throws.
                    if (channel != null && channel.isRegistered()) {
                        channel.close();
                    }
                }
            }
        }
    }
}
