package io.canaryproxy.upstream;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.config.TransportChoice;
import io.canaryproxy.listener.Transport;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Taking a pooled keep-alive connection and giving it back, on the pool's own event loop, as the data plane does
 * for every request. One invocation runs {@value #PAIRS} pairs inside one task on the loop, so the hand-off from
 * the benchmark thread is spread over them. (In the pool's package: its constructor is package-private.)
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PoolBenchmark {

    private static final int PAIRS = 1000;

    private EventLoopGroup group;
    private EventLoopGroup backendGroup;
    private Channel backend;
    private EventLoop loop;
    private EndpointPool pool;
    private final Holder holder = new Holder();

    /** Keeps the connection it is handed; the benchmark gives it straight back. */
    private static final class Holder implements UpstreamListener {
        UpstreamConnection connection;

        @Override
        public boolean isWaitingFor(int ticket) {
            return connection == null;
        }

        @Override
        public void onAcquired(UpstreamConnection c, int ticket) {
            connection = c;
        }

        @Override
        public void onAcquireFailed(int ticket, Throwable cause, boolean connectFailed) {
            throw new IllegalStateException("no connection: " + cause);
        }

        @Override
        public void onResponseHead(UpstreamConnection c, ResponseHead head) {
        }

        @Override
        public void onResponseBody(UpstreamConnection c, ByteBuf data, int index, int length) {
        }

        @Override
        public void onResponseEnd(UpstreamConnection c, ByteBuf trailers) {
        }

        @Override
        public void onResponseMalformed(UpstreamConnection c, String reason) {
        }

        @Override
        public void onUpstreamReadComplete(UpstreamConnection c) {
        }

        @Override
        public void onUpstreamWritabilityChanged(UpstreamConnection c) {
        }

        @Override
        public void onUpstreamClosed(UpstreamConnection c, Throwable cause) {
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Transport transport = Transport.select(TransportChoice.AUTO);
        backendGroup = transport.newGroup(1, "bench-backend");
        InetSocketAddress address = new InetSocketAddress("127.0.0.1", 0);
        backend = new ServerBootstrap().group(backendGroup).channelFactory(transport.serverChannel(address))
                .childHandler(new ChannelInboundHandlerAdapter())
                .bind(address).syncUninterruptibly().channel();
        int port = ((InetSocketAddress) backend.localAddress()).getPort();
        ProxyConfig config = ConfigLoader.fromConfig(ConfigFactory.parseString("""
                proxy {
                  listen = "127.0.0.1:0"
                  admin.listen = "127.0.0.1:0"
                  state-file = ""
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  upstream.pool-idle-timeout = 1h
                }
                """.formatted(port)));
        group = transport.newGroup(1, "bench-pool");
        loop = group.next();
        Upstreams upstreams = new Upstreams(config, transport, new EventLoop[] {loop}, new CompositeMeterRegistry());
        Release blue = upstreams.release("blue");
        blue.routed(true);
        pool = blue.endpoints().get(0).pool(0);
        // One connection, made once: from then on every acquire finds it idle in the pool.
        loop.submit(() -> pool.acquire(holder, 0, true)).sync();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (holder.connection == null && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        loop.submit(() -> holder.connection.release(true)).sync();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        backend.close().syncUninterruptibly();
        backendGroup.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public Object acquireAndRelease() throws Exception {
        return loop.submit(() -> {
            for (int i = 0; i < PAIRS; i++) {
                pool.acquire(holder, i, false);
                holder.connection.release(true);
            }
            return holder.connection;
        }).get();
    }
}
