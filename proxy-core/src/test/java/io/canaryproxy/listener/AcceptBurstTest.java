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
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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

    @ParameterizedTest
    @EnumSource(Transport.class)
    void connectionsWaitingTogetherAreAcceptedInOneTurn(Transport transport) throws Exception {
        Assumptions.assumeTrue(transport.isAvailable(), transport + " is not available here");
        EventLoopGroup group = transport.newGroup(1, "accept-burst");
        List<Integer> turns = new CopyOnWriteArrayList<>();
        List<Socket> clients = new ArrayList<>();
        try {
            Channel server = new ServerBootstrap()
                    .group(group)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.RCVBUF_ALLOCATOR, Listener.acceptAllocator())
                    .handler(new AcceptsPerTurn(turns))
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                        }
                    })
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            EventLoop loop = server.eventLoop();

            // Hold the loop so that the whole burst is queued by the kernel before it looks again.
            CountDownLatch connected = new CountDownLatch(1);
            loop.execute(() -> {
                try {
                    connected.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            InetSocketAddress address = (InetSocketAddress) server.localAddress();
            for (int i = 0; i < BURST; i++) {
                clients.add(new Socket(address.getAddress(), address.getPort()));
            }
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
