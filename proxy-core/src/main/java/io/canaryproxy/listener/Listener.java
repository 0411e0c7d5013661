package io.canaryproxy.listener;

import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.internal.AcceptFailureLog;
import io.canaryproxy.metrics.ClientMetrics;
import io.canaryproxy.routing.RouteState;
import io.canaryproxy.routing.Router;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.ServerChannelRecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The public HTTP listener: binds the port and builds each client connection's pipeline. */
public final class Listener {

    private static final Logger log = LoggerFactory.getLogger(Listener.class);

    /** The most connections taken from the accept queue in one loop turn: a burst waits one turn, not one each. */
    static final int ACCEPTS_PER_TURN = 64;

    /** Fired at every client connection when the proxy stops: close when idle, or after the current response. */
    static final Object SHUTDOWN = new Object() {
        @Override
        public String toString() {
            return "SHUTDOWN";
        }
    };

    private final ProxyConfig config;
    private final Transport transport;
    private final EventLoopGroup group;
    private final ChannelGroup clients = new DefaultChannelGroup("clients", GlobalEventExecutor.INSTANCE);
    private final EventLoop[] loops;
    private final RouteState routes;
    private final ClientMetrics clientMetrics;
    private final UpstreamFailureLog failureLog;
    private volatile ListenerContext context;
    private Channel serverChannel;
    private volatile boolean shuttingDown;
    private volatile boolean cuttingClients;
    /** Responses whose upstream is done and whose clients still take the rest from disk (see ProxyHandler). */
    private final LongAdder buffered = new LongAdder();
    private final AtomicInteger awaitingFirstRequest = new AtomicInteger();

    public Listener(ProxyConfig config, Transport transport, EventLoopGroup group, EventLoop[] loops,
                    RouteState routes, Router router, ClientMetrics clientMetrics) {
        this.config = config;
        this.transport = transport;
        this.group = group;
        this.loops = loops;
        this.routes = routes;
        this.clientMetrics = clientMetrics;
        this.failureLog = new UpstreamFailureLog(group);
        this.context = new ListenerContext(config, routes, router, clients, loops, clientMetrics);
    }

    /**
     * How the listening socket is read. Netty's default accepts one connection per wakeup of the loop: its "maybe
     * more" test compares the accepted descriptor with the one byte it expected to read, which never match. With
     * 64 clients connecting at once that made the 64th wait 64 loop turns, each a full pass over the busy
     * connections, tens of milliseconds in all. Here the loop accepts until the queue is empty, at most
     * {@link #ACCEPTS_PER_TURN} at a time so that a connection storm cannot starve the established connections.
     */
    static RecvByteBufAllocator acceptAllocator() {
        return new ServerChannelRecvByteBufAllocator().respectMaybeMoreData(false).maxMessagesPerRead(ACCEPTS_PER_TURN);
    }

    /**
     * Binds the listener, or takes the listening socket systemd passed the process ({@link SystemdSocket}), which
     * then stands for {@code proxy.listen}.
     *
     * @throws java.io.UncheckedIOException when the address cannot be bound, with the address in the message
     * @throws ConfigException              when the host name of {@code proxy.listen} does not resolve, or the socket
     *                                      systemd passed cannot be used
     */
    public InetSocketAddress bind() {
        Listener listener = this;
        OptionalInt inherited = SystemdSocket.take(System.getenv(), ProcessHandle.current().pid());
        InetSocketAddress address = new InetSocketAddress(config.listen().host(), config.listen().port());
        if (address.isUnresolved() && inherited.isEmpty()) {
            throw ConfigException.invalid("proxy.listen", config.listen().toString(), "cannot resolve the host name");
        }
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channelFactory(inherited.isPresent() ? transport.inheritedServerChannel(inherited.getAsInt())
                        : transport.serverChannel(address))
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.RCVBUF_ALLOCATOR, acceptAllocator())
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ListenerContext lc = listener.context;
                        StrictRequestDecoder decoder = new StrictRequestDecoder(
                                StrictRequestDecoder.config(lc.maxInitialLine, lc.maxHeaderSize));
                        ResponseEncoder encoder = new ResponseEncoder();
                        ch.pipeline()
                                .addLast("decoder", decoder)
                                .addLast("encoder", encoder)
                                .addLast("proxy", new ProxyHandler(listener, decoder, encoder));
                    }
                });
        if (inherited.isPresent()) {
            SystemdSocket.check(inherited.getAsInt());
            // Already bound and listening: registering it starts the accepts.
            ChannelFuture registered = b.register().awaitUninterruptibly();
            if (!registered.isSuccess()) {
                throw new ConfigException("cannot take descriptor " + inherited.getAsInt() + ", the socket systemd"
                        + " passed: " + registered.cause().getMessage());
            }
            serverChannel = registered.channel();
            log.info("taking the listening socket systemd passed, on {} (proxy.listen = {} is not used)",
                    NetUtil.toSocketAddressString((InetSocketAddress) serverChannel.localAddress()),
                    config.listen());
        } else {
            try {
                serverChannel = b.bind(address).syncUninterruptibly().channel();
            } catch (Exception e) {
                throw new java.io.UncheckedIOException(new java.io.IOException(
                        "cannot listen on " + config.listen() + ": " + e.getMessage(), e));
            }
        }
        InetSocketAddress bound = (InetSocketAddress) serverChannel.localAddress();
        AcceptFailureLog.install(serverChannel, "the listener on " + NetUtil.toSocketAddressString(bound));
        return bound;
    }

    /**
     * New limits, timeouts, trusted proxies and routing options: new connections and the next request of every
     * open connection use them; requests already running finish with what they started with.
     */
    public void reconfigure(ProxyConfig next, Router router) {
        ListenerContext fresh = new ListenerContext(next, routes, router, clients, loops, clientMetrics);
        context = fresh;
    }

    UpstreamFailureLog failureLog() {
        return failureLog;
    }

    ListenerContext context() {
        return context;
    }

    /** Whether the proxy is stopping: responses then close their connections. */
    boolean shuttingDown() {
        return shuttingDown;
    }

    /** Stops accepting and asks every client connection to close once it is idle. */
    public void stopAccepting() {
        shuttingDown = true;
        if (serverChannel != null) {
            serverChannel.close().syncUninterruptibly();
        }
        // Waited for: once this returns, every connection has decided whether the stop waits for it.
        List<io.netty.util.concurrent.Future<?>> told = new ArrayList<>();
        for (Channel ch : clients) {
            try {
                told.add(ch.eventLoop().submit(() -> ch.pipeline().fireUserEventTriggered(SHUTDOWN)));
            } catch (RejectedExecutionException stopping) {
                // its loop is gone, and the connection with it
            }
        }
        for (io.netty.util.concurrent.Future<?> f : told) {
            f.awaitUninterruptibly(1, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /**
     * Responses their releases are done with that clients are still taking from disk: no release counts them in
     * flight any more (a drain need not wait for a slow download the app has finished), but a stop does.
     */
    public long buffered() {
        return buffered.sum();
    }

    /** A response's upstream is done and its client still takes the rest from disk; {@code false}: it has now. */
    void bufferedTail(boolean started) {
        if (started) {
            buffered.increment();
        } else {
            buffered.decrement();
        }
    }

    /** Client connections still open. */
    public int openClients() {
        return clients.size();
    }

    /** Connections a stop waits on for their first request, which they have not sent yet (see ProxyHandler). */
    public int awaitingFirstRequest() {
        return awaitingFirstRequest.get();
    }

    void awaitingFirstRequest(boolean started) {
        if (started) {
            awaitingFirstRequest.incrementAndGet();
        } else {
            awaitingFirstRequest.decrementAndGet();
        }
    }

    /**
     * The requests to {@code release} still under way, oldest first, at most {@code max}: what a drain is waiting
     * for. Each event loop looks at its own connections, so nothing on the data plane records anything for this.
     */
    public CompletableFuture<List<InFlightRequest>> inFlight(String release, int max) {
        List<CompletableFuture<List<InFlightRequest>>> perLoop = new ArrayList<>(loops.length);
        for (EventLoop loop : loops) {
            CompletableFuture<List<InFlightRequest>> found = new CompletableFuture<>();
            try {
                loop.execute(() -> found.complete(inFlightOn(loop, release)));
            } catch (RejectedExecutionException stopping) {
                found.complete(List.of());
            }
            perLoop.add(found);
        }
        return CompletableFuture.allOf(perLoop.toArray(CompletableFuture[]::new)).thenApply(done -> perLoop.stream()
                .flatMap(f -> f.join().stream())
                .sorted(Comparator.comparing(InFlightRequest::age).reversed())
                .limit(max)
                .toList());
    }

    /** The requests to {@code release} under way on the connections of {@code loop}; on that loop only. */
    private List<InFlightRequest> inFlightOn(EventLoop loop, String release) {
        List<InFlightRequest> found = new ArrayList<>();
        long now = System.nanoTime();
        for (Channel ch : clients) {
            if (ch.eventLoop() != loop) {
                continue;
            }
            try {
                ProxyHandler handler = ch.pipeline().get(ProxyHandler.class);
                InFlightRequest r = handler == null ? null : handler.inFlight(release, now);
                if (r != null) {
                    found.add(r);
                }
            } catch (RuntimeException e) {
                // one connection that cannot say leaves the others listed
                log.debug("in-flight request of {} not listed: {}", ch, e.toString());
            }
        }
        return found;
    }

    /** Closes every client connection now. */
    public void closeClients() {
        cuttingClients = true;
        clients.close().awaitUninterruptibly();
    }

    /** Writes the count of upstream failures not logged yet, as the proxy stops (see UpstreamFailureLog). */
    public void flushFailureLog() {
        failureLog.flush();
    }

    /** Whether the proxy is closing its client connections itself: an exchange ending now was not given up on. */
    boolean cuttingClients() {
        return cuttingClients;
    }
}
