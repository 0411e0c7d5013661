package io.canaryproxy.listener;

import io.canaryproxy.config.EndpointAddress;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/**
 * The I/O transport: native epoll on Linux when it loads (level-triggered, the only mode Netty 4.2 offers; domain
 * sockets), Java NIO otherwise. Listener, upstream and health-check channels all come from here so that they match the event loops.
 */
public enum Transport {
    EPOLL, NIO;

    /** System property that forces a transport: {@code epoll} or {@code nio}. */
    public static final String PROPERTY = "canary-proxy.transport";

    /** The best transport this machine offers, unless {@value #PROPERTY} names one. */
    public static Transport best() {
        String forced = System.getProperty(PROPERTY, "");
        if (forced.equalsIgnoreCase("nio")) {
            return NIO;
        }
        if (forced.equalsIgnoreCase("epoll") && !Epoll.isAvailable()) {
            throw new IllegalStateException("-D" + PROPERTY + "=epoll, but native epoll is not available: "
                    + Epoll.unavailabilityCause());
        }
        return Epoll.isAvailable() ? EPOLL : NIO;
    }

    public EventLoopGroup newGroup(int threads, String name) {
        IoHandlerFactory factory = this == EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return this == EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** The client channel type able to connect to {@code address}. */
    public Class<? extends Channel> clientChannel(EndpointAddress address) {
        if (address.isUnix()) {
            return this == EPOLL ? EpollDomainSocketChannel.class : NioDomainSocketChannel.class;
        }
        return this == EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    /** The socket address this transport's channels connect to; resolved once, at configuration time. */
    public SocketAddress socketAddress(EndpointAddress address) {
        if (address.isUnix()) {
            String path = address.unixPath().toString();
            return this == EPOLL ? new DomainSocketAddress(path) : UnixDomainSocketAddress.of(path);
        }
        return new InetSocketAddress(address.tcp().host(), address.tcp().port());
    }
}
