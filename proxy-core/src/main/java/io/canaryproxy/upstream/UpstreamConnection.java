package io.canaryproxy.upstream;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelOutputShutdownException;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * One keep-alive connection to an endpoint, and the last handler of its pipeline: it forwards everything to the
 * exchange that currently holds it, or drops it while the connection sits idle in its pool.
 */
public final class UpstreamConnection extends ChannelInboundHandlerAdapter {

    /** How long an upstream that failed a write has to answer or close (see exceptionCaught). */
    private static final long ANSWER_AFTER_WRITE_FAILURE_MILLIS = 1000;

    private final EndpointPool pool;
    private final ResponseDecoder decoder;
    private Channel channel;
    private UpstreamListener owner;
    private long idleSinceNanos;
    private boolean reused;
    /** Why a write failed, after which only the output was shut: the answer may still come (see exceptionCaught). */
    private Throwable writeFailure;
    private boolean answeredSinceWriteFailure;

    UpstreamConnection(EndpointPool pool, ResponseDecoder decoder) {
        this.pool = pool;
        this.decoder = decoder;
    }

    public Channel channel() {
        return channel;
    }

    public Endpoint endpoint() {
        return pool.endpoint();
    }

    /** Whether this connection served a request before: a stale keep-alive connection may fail on first write. */
    public boolean reused() {
        return reused;
    }

    /**
     * Says whether the request about to be sent is a HEAD request, whose response has no body whatever its headers
     * say. To be called before every request.
     */
    public void expectResponseTo(boolean headRequest) {
        decoder.expectBodyless(headRequest);
    }

    /** Gives the connection back: into the pool when {@code reusable} and nothing is left over, closed otherwise. */
    public void release(boolean reusable) {
        owner = null;
        pool.release(this, reusable && decoder.clean() && writeFailure == null);
    }

    /** Closes the connection without notifying its holder, which has already given up on it. */
    public void abandon() {
        owner = null;
        channel.close();
    }

    /**
     * {@link #abandon} with a TCP reset instead of an orderly close: the upstream's read of a request body that is
     * still owed then fails, where an end of stream would hand the view the part that came as if it were all of
     * it. A Unix socket has no reset; there the view still sees an early end.
     */
    public void reset() {
        try {
            channel.config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException e) {
            // Not a TCP socket (a Unix socket), or one already closed: an orderly close is all there is.
        }
        abandon();
    }

    void attach(UpstreamListener listener, boolean fromPool) {
        owner = listener;
        reused = fromPool;
    }

    long idleSinceNanos() {
        return idleSinceNanos;
    }

    void markIdle(long now) {
        idleSinceNanos = now;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        answeredSinceWriteFailure |= writeFailure != null;
        UpstreamListener o = owner;
        if (o != null) {
            if (msg instanceof ResponseDecoder.Body) {
                ResponseDecoder.Body b = (ResponseDecoder.Body) msg;
                o.onResponseBody(this, b.buffer, b.index, b.length);
            } else if (msg instanceof ResponseHead) {
                o.onResponseHead(this, (ResponseHead) msg);
            } else if (msg instanceof ResponseEnd) {
                o.onResponseEnd(this, ((ResponseEnd) msg).trailers);
            } else if (msg instanceof ResponseDecoder.Malformed) {
                o.onResponseMalformed(this, ((ResponseDecoder.Malformed) msg).reason);
            } else {
                ReferenceCountUtil.release(msg);
            }
        } else {
            // An idle connection has nothing to say; bytes here mean the peer is confused.
            if (msg instanceof ResponseEnd) {
                ReferenceCountUtil.release(((ResponseEnd) msg).trailers);
            }
            ReferenceCountUtil.release(msg);
            ctx.close();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        UpstreamListener o = owner;
        if (o != null) {
            o.onUpstreamReadComplete(this);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        UpstreamListener o = owner;
        if (o != null) {
            o.onUpstreamWritabilityChanged(this);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        pool.closed(this);
        UpstreamListener o = owner;
        owner = null;
        if (o != null) {
            o.onUpstreamClosed(this, writeFailure);
        }
    }

    /**
     * A failed write ends only the request's way up: the pool's channels do not close on it (AUTO_CLOSE off), Netty
     * shuts their output instead, and reading goes on until the answer or the close comes. gunicorn's sync worker
     * answers an upload it did not read (a 404, a permission check's 403), then closes: the proxy's next write of
     * the body fails, and the answer is on the socket already. Later writes fail the same way, and are dropped. An
     * upstream that neither answers nor closes within a moment (one that shut only its reading side) counts as
     * closed without an answer, so that the request is sent again or failed now, not at response-timeout.
     */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (ctx.channel() instanceof DuplexChannel duplex && duplex.isOutputShutdown() && duplex.isActive()
                && !duplex.isInputShutdown()) {
            if (writeFailure == null) {
                // Netty reports the shut output; the write's own failure (a broken pipe, say) is its cause.
                writeFailure = cause instanceof ChannelOutputShutdownException && cause.getCause() != null
                        ? cause.getCause() : cause;
                ctx.executor().schedule(() -> {
                    if (!answeredSinceWriteFailure && ctx.channel().isActive()) {
                        closeWithoutAnswer(ctx, writeFailure);
                    }
                }, ANSWER_AFTER_WRITE_FAILURE_MILLIS, TimeUnit.MILLISECONDS);
            }
            return;
        }
        closeWithoutAnswer(ctx, cause);
    }

    private void closeWithoutAnswer(ChannelHandlerContext ctx, Throwable cause) {
        UpstreamListener o = owner;
        owner = null;
        if (o != null) {
            o.onUpstreamClosed(this, cause);
        }
        ctx.close();
    }
}
