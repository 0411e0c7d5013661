package io.canaryproxy.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/**
 * Keep-alive connections to one endpoint, owned by one event loop. Only that loop touches it, so acquiring and
 * releasing take no lock. Idle connections are reused most-recent first and closed once idle for
 * {@code pool-idle-timeout}, which defaults below gunicorn's keep-alive so that the proxy, not the upstream, closes
 * an idle connection; that avoids most of the race where a request is written to a connection the upstream is
 * closing.
 */
public final class EndpointPool {

    /** The pool is at {@code max-connections}. */
    public static final class ExhaustedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ExhaustedException(String endpoint) {
            super("connection limit reached for " + endpoint, null, false, false);
        }
    }

    private final Endpoint endpoint;
    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final ArrayDeque<UpstreamConnection> idle = new ArrayDeque<>();
    private final int maxConnections;
    private final long idleTimeoutNanos;
    private int open;
    private boolean sweepScheduled;

    EndpointPool(Endpoint endpoint, EventLoop loop, int maxConnections, long idleTimeoutNanos, int connectTimeoutMillis,
                 int maxResponseHeaderSize) {
        this.endpoint = endpoint;
        this.loop = loop;
        this.maxConnections = maxConnections;
        this.idleTimeoutNanos = idleTimeoutNanos;
        EndpointPool pool = this;
        this.bootstrap = new Bootstrap()
                .group(loop)
                .channel(endpoint.channelType())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        endpoint.release().track(ch);
                        ResponseDecoder decoder = new ResponseDecoder(maxResponseHeaderSize);
                        ch.pipeline().addLast("response-decoder", decoder);
                        ch.pipeline().addLast("upstream", new UpstreamConnection(pool, decoder));
                    }
                });
        if (!endpoint.address().isUnix()) {
            bootstrap.option(ChannelOption.TCP_NODELAY, true);
        }
    }

    Endpoint endpoint() {
        return endpoint;
    }

    /**
     * Hands a connection to {@code listener}: an idle one unless {@code fresh}, otherwise a new one. The answer
     * may come before this method returns.
     *
     * @param fresh a new connection is required: used for requests that may not be retried, so that they never
     *              ride a keep-alive connection the upstream may be closing
     */
    public void acquire(UpstreamListener listener, int ticket, boolean fresh) {
        assert loop.inEventLoop();
        if (!fresh) {
            long now = System.nanoTime();
            UpstreamConnection c;
            while ((c = idle.pollFirst()) != null) {
                if (c.channel().isActive() && now - c.idleSinceNanos() < idleTimeoutNanos) {
                    c.attach(listener, true);
                    listener.onAcquired(c, ticket);
                    return;
                }
                c.channel().close();
            }
        }
        if (open >= maxConnections) {
            listener.onAcquireFailed(ticket, new ExhaustedException(endpoint.toString()), false);
            return;
        }
        open++;
        ChannelFuture connect = bootstrap.connect(endpoint.socketAddress());
        connect.addListener(f -> {
            if (f.isSuccess()) {
                Channel ch = connect.channel();
                endpoint.connected(ch);
                UpstreamConnection c = ch.pipeline().get(UpstreamConnection.class);
                c.attach(listener, false);
                listener.onAcquired(c, ticket);
            } else {
                open--;
                endpoint.connectFailed(f.cause());
                listener.onAcquireFailed(ticket, f.cause(), true);
            }
        });
    }

    void release(UpstreamConnection c, boolean reusable) {
        assert loop.inEventLoop();
        if (reusable && c.channel().isActive() && endpoint.release().routed()) {
            // An idle connection keeps reading, so that the upstream closing it is seen at once.
            c.channel().config().setAutoRead(true);
            c.markIdle(System.nanoTime());
            idle.addFirst(c);
            scheduleSweep();
        } else {
            c.channel().close();
        }
    }

    /** Called when a connection of this pool closed, idle or busy. */
    void closed(UpstreamConnection c) {
        open--;
        idle.remove(c);
    }

    /** Closes every idle connection; busy ones close when their exchange gives them back. */
    void closeIdle() {
        if (!loop.inEventLoop()) {
            loop.execute(this::closeIdle);
            return;
        }
        UpstreamConnection c;
        while ((c = idle.pollFirst()) != null) {
            c.channel().close();
        }
    }

    private void scheduleSweep() {
        if (!sweepScheduled) {
            sweepScheduled = true;
            loop.schedule(this::sweep, idleTimeoutNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void sweep() {
        sweepScheduled = false;
        long now = System.nanoTime();
        // Most recently used first: the expired ones sit at the tail.
        Iterator<UpstreamConnection> it = idle.descendingIterator();
        while (it.hasNext()) {
            UpstreamConnection c = it.next();
            if (now - c.idleSinceNanos() < idleTimeoutNanos) {
                break;
            }
            it.remove();
            c.channel().close();
        }
        if (!idle.isEmpty()) {
            scheduleSweep();
        }
    }
}
