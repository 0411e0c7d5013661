package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A burst of clients connecting at once - a load balancer's health checks, a browser opening six connections, a
 * load test starting - is accepted in one loop turn, not one connection per turn behind everything else the loop
 * has to do.
 */
class AcceptBurstTest {

    private static final int BURST = 20;
    private static final Path PROC_NET_TCP = Path.of("/proc/net/tcp");

    @ParameterizedTest
    @EnumSource(Transport.class)
    void connectionsWaitingTogetherAreAcceptedInOneTurn(Transport transport) throws Exception {
        Assumptions.assumeTrue(transport.isAvailable(), transport + " is not available here");
        Assumptions.assumeTrue(Files.isReadable(PROC_NET_TCP), "needs Linux's /proc/net/tcp to see the accept queue");
        EventLoopGroup group = transport.newGroup(1, "accept-burst");
        List<Integer> turns = new CopyOnWriteArrayList<>();
        List<Socket> clients = new ArrayList<>();
        try {
            InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
            Channel server = new ServerBootstrap()
                    .group(group)
                    .channelFactory(transport.serverChannel(loopback))
                    .option(ChannelOption.RCVBUF_ALLOCATOR, Listener.acceptAllocator())
                    .handler(new AcceptsPerTurn(turns))
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                        }
                    })
                    .bind(loopback).sync().channel();
            EventLoop loop = server.eventLoop();

            // Hold the loop so that the whole burst is queued by the kernel before it looks again. The burst starts
            // only once the loop is held: a loop turn already under way would accept the first connections early.
            CountDownLatch holding = new CountDownLatch(1);
            CountDownLatch connected = new CountDownLatch(1);
            loop.execute(() -> {
                holding.countDown();
                try {
                    connected.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertThat(holding.await(10, TimeUnit.SECONDS)).as("the loop is held").isTrue();
            InetSocketAddress address = (InetSocketAddress) server.localAddress();
            for (int i = 0; i < BURST; i++) {
                clients.add(new Socket(address.getAddress(), address.getPort()));
            }
            // connect() returns when the client has the SYN-ACK, which is not in itself proof that the server's
            // side of the handshake is done: wait until the kernel has queued the whole burst.
            await().atMost(Duration.ofSeconds(10)).until(() -> acceptQueueLength(address.getPort()) == BURST);
            connected.countDown();

            await().atMost(Duration.ofSeconds(10))
                    .until(() -> turns.stream().mapToInt(Integer::intValue).sum() == BURST);
            assertThat(turns).as("connections accepted per loop turn").containsExactly(BURST);
        } finally {
            for (Socket s : clients) {
                s.close();
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * Connections waiting in the accept queue of the listening socket on 127.0.0.1:port: for a socket in LISTEN state
     * the {@code rx_queue} column of {@code /proc/net/tcp} is that queue's length. A Java server socket is often an
     * IPv6 one listening on ::ffff:127.0.0.1, which {@code /proc/net/tcp6} lists.
     */
    private static int acceptQueueLength(int port) throws IOException {
        String local = String.format("0100007F:%04X", port);
        for (Path table : List.of(PROC_NET_TCP, Path.of("/proc/net/tcp6"))) {
            if (!Files.isReadable(table)) {
                continue;
            }
            try (Stream<String> lines = Files.lines(table)) {
                OptionalInt queued = lines.map(String::trim)
                        .map(line -> line.split("\\s+"))
                        .filter(f -> f.length > 4 && f[1].endsWith(local) && f[3].equals("0A"))
                        .mapToInt(f -> Integer.parseInt(f[4].substring(f[4].indexOf(':') + 1), 16))
                        .findFirst();
                if (queued.isPresent()) {
                    return queued.getAsInt();
                }
            }
        }
        return -1;
    }

    /** Counts the connections each read of the listening socket accepts; one read is one loop turn. */
    private static final class AcceptsPerTurn extends ChannelInboundHandlerAdapter {
        private final List<Integer> turns;
        private int accepted;

        AcceptsPerTurn(List<Integer> turns) {
            this.turns = turns;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            accepted++;
            ctx.fireChannelRead(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (accepted > 0) {
                turns.add(accepted);
                accepted = 0;
            }
            ctx.fireChannelReadComplete();
        }
    }
}
