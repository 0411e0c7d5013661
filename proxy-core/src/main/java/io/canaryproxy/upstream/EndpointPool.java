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
 *
 * <p>At {@code max-connections} a request waits, first come first served, for a connection to come back or to
 * close, for at most {@code connect-timeout}: a burst of new clients must not turn into 503s while the upstream
 * answers quickly, and a wait longer than a connect would take means the upstream is not keeping up.
 */
public final class EndpointPool {

    /** The pool stayed at {@code max-connections} for as long as a request may wait. */
    public static final class ExhaustedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ExhaustedException(String endpoint) {
            super("connection limit reached for " + endpoint, null, false, false);
        }
    }

    /** A request waiting for a connection; deadlines grow from head to tail, as waiters join in time order. */
    private record Waiter(UpstreamListener listener, int ticket, boolean fresh, long deadlineNanos) {
    }

    private final Endpoint endpoint;
    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final ArrayDeque<UpstreamConnection> idle = new ArrayDeque<>();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private final int maxConnections;
    private final int maxIdle;
    private final long idleTimeoutNanos;
    private final long maxWaitNanos;
    private int open;
    private boolean sweepScheduled;
    private boolean waitCheckScheduled;

    EndpointPool(Endpoint endpoint, EventLoop loop, int maxConnections, int maxIdle, long idleTimeoutNanos,
                 int connectTimeoutMillis, int maxResponseHeaderSize) {
        this.endpoint = endpoint;
        this.loop = loop;
        this.maxConnections = maxConnections;
        this.maxIdle = maxIdle;
        this.idleTimeoutNanos = idleTimeoutNanos;
        this.maxWaitNanos = TimeUnit.MILLISECONDS.toNanos(connectTimeoutMillis);
        EndpointPool pool = this;
        this.bootstrap = new Bootstrap()
                .group(loop)
                .channel(endpoint.channelType())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                // A failed write shuts the output only: the answer may already be there to read (UpstreamConnection).
                .option(ChannelOption.AUTO_CLOSE, false)
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
            UpstreamConnection c = pollIdle();
            if (c != null) {
                c.attach(listener, true);
                listener.onAcquired(c, ticket);
                return;
            }
        }
        if (open < maxConnections && waiters.isEmpty()) {
            connect(listener, ticket);
            return;
        }
        waiters.addLast(new Waiter(listener, ticket, fresh, System.nanoTime() + maxWaitNanos));
        scheduleWaitCheck();
        serveWaiters();
    }

    /** The most recently used idle connection that is still open and fresh enough, or null. */
    private UpstreamConnection pollIdle() {
        long now = System.nanoTime();
        UpstreamConnection c;
        while ((c = idle.pollFirst()) != null) {
            if (c.channel().isActive() && now - c.idleSinceNanos() < idleTimeoutNanos) {
                return c;
            }
            c.channel().close();
        }
        return null;
    }

    private void connect(UpstreamListener listener, int ticket) {
        open++;
        ChannelFuture connect = bootstrap.connect(endpoint.socketAddress());
        ConnectResults.onLoop(connect, loop, () -> connected(connect, listener, ticket));
    }

    private void connected(ChannelFuture connect, UpstreamListener listener, int ticket) {
        if (connect.isSuccess()) {
            Channel ch = connect.channel();
            endpoint.connected(ch);
            UpstreamConnection c = ch.pipeline().get(UpstreamConnection.class);
            c.attach(listener, false);
            listener.onAcquired(c, ticket);
        } else {
            open--;
            endpoint.connectFailed(connect.cause());
            listener.onAcquireFailed(ticket, connect.cause(), true);
            serveWaiters();
        }
    }

    void release(UpstreamConnection c, boolean reusable) {
        assert loop.inEventLoop();
        if (reusable && c.channel().isActive() && endpoint.release().routed()) {
            // An idle connection keeps reading, so that the upstream closing it is seen at once.
            c.channel().config().setAutoRead(true);
            c.markIdle(System.nanoTime());
            idle.addFirst(c);
            scheduleSweep();
            serveWaiters();
            // Beyond the idle limit the least recently used goes: a burst of POSTs, each on a fresh connection,
            // must not leave the upstream holding that many idle ones.
            while (idle.size() > maxIdle) {
                idle.pollLast().channel().close();
            }
        } else {
            c.channel().close();
        }
    }

    /**
     * Hands idle connections, or room for new ones, to waiting requests in their order. A waiter that needs a
     * fresh connection blocks those behind it until one may be opened, so that nobody is overtaken.
     */
    private void serveWaiters() {
        Waiter w;
        while ((w = waiters.peekFirst()) != null) {
            if (!w.listener().isWaitingFor(w.ticket())) {
                waiters.pollFirst(); // its client left or its request failed otherwise
                continue;
            }
            UpstreamConnection c = w.fresh() ? null : pollIdle();
            if (c != null) {
                waiters.pollFirst();
                c.attach(w.listener(), true);
                w.listener().onAcquired(c, w.ticket());
            } else if (open < maxConnections) {
                waiters.pollFirst();
                connect(w.listener(), w.ticket());
            } else {
                UpstreamConnection oldest = w.fresh() ? idle.pollLast() : null;
                if (oldest != null) {
                    // Make room for the new connection this waiter needs; closed() comes back here.
                    oldest.channel().close();
                }
                return;
            }
        }
    }

    private void scheduleWaitCheck() {
        if (!waitCheckScheduled) {
            waitCheckScheduled = true;
            long delay = waiters.peekFirst().deadlineNanos() - System.nanoTime();
            loop.schedule(this::expireWaiters, Math.max(0, delay), TimeUnit.NANOSECONDS);
        }
    }

    private void expireWaiters() {
        waitCheckScheduled = false;
        long now = System.nanoTime();
        Waiter w;
        while ((w = waiters.peekFirst()) != null && now - w.deadlineNanos() >= 0) {
            waiters.pollFirst();
            if (w.listener().isWaitingFor(w.ticket())) {
                w.listener().onAcquireFailed(w.ticket(), new ExhaustedException(endpoint.toString()), false);
            }
        }
        if (!waiters.isEmpty()) {
            scheduleWaitCheck();
        }
    }

    /** Called when a connection of this pool closed, idle or busy. */
    void closed(UpstreamConnection c) {
        open--;
        idle.remove(c);
        serveWaiters();
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
