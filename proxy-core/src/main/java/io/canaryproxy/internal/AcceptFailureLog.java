package io.canaryproxy.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The end of a listening channel's pipeline: what accepting a connection failed with, in one line. Netty's acceptor
 * stops accepting for a second after a failure and passes it on; without this it reached the pipeline's end, which
 * logs a warning and a stack trace for each, twice a second while the proxy is out of file descriptors.
 */
@ChannelHandler.Sharable
public final class AcceptFailureLog extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(AcceptFailureLog.class);

    private final String listener;
    private final LogThrottle warnings = new LogThrottle(Duration.ofSeconds(10));

    private AcceptFailureLog(String listener) {
        this.listener = listener;
    }

    /**
     * Puts the log at the end of {@code serverChannel}'s pipeline, behind Netty's acceptor: call once the channel is
     * bound, when the acceptor is in place.
     *
     * @param listener what the channel is, for the log: {@code the listener on 0.0.0.0:8080}
     */
    public static void install(Channel serverChannel, String listener) {
        serverChannel.pipeline().addLast(new AcceptFailureLog(listener));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (IoFailures.isOutOfDescriptors(cause)) {
            Descriptors.report("accept connections on " + listener + " (accepting again in a second)");
            return;
        }
        if (warnings.allow() >= 0) {
            log.warn("{} cannot accept a connection: {}", listener, IoFailures.describe(cause));
        }
    }
}
