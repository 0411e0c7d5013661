package io.canaryproxy.listener;

import io.canaryproxy.config.ConfigException;
import io.canaryproxy.config.EndpointAddress;
import io.canaryproxy.config.TransportChoice;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
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
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDomainSocketChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.spi.SelectorProvider;
import java.util.Locale;

/**
 * The I/O transport. Listener, upstream and health-check channels all come from here so that they match the event
 * loops.
 * <ul>
 *   <li>{@link #EPOLL}: native epoll, level-triggered (the only mode Netty 4.2 offers); the default on Linux.
 *   <li>{@link #IO_URING}: native io_uring, opt-in ({@code proxy.transport = io_uring}). Reads and writes of a loop
 *       turn go to the kernel in one {@code io_uring_enter} instead of one system call each, which saves CPU per
 *       request; but many hosts and container runtimes disable io_uring, so it is never picked unasked.
 *   <li>{@link #NIO}: Java NIO, everywhere else.
 * </ul>
 * All three reach Unix-socket upstreams.
 */
public enum Transport {
    EPOLL, IO_URING, NIO;

    /** The transport {@code proxy.transport} asks for; {@code auto} is epoll where it loads, NIO otherwise. */
    public static Transport select(TransportChoice choice) {
        return switch (choice) {
            case AUTO -> EPOLL.isAvailable() ? EPOLL : NIO;
            case EPOLL -> available(EPOLL, choice);
            case IO_URING -> available(IO_URING, choice);
            case NIO -> NIO;
        };
    }

    private static Transport available(Transport transport, TransportChoice choice) {
        if (!transport.isAvailable()) {
            throw ConfigException.invalid("proxy.transport", choice.toString(), "native " + choice
                    + " is not available on this machine (" + transport.unavailabilityCause().getMessage()
                    + "); use auto or nio");
        }
        return transport;
    }

    /** Whether this transport can run here: its native library loads and the kernel allows it. */
    public boolean isAvailable() {
        return switch (this) {
            case EPOLL -> Epoll.isAvailable();
            case IO_URING -> IoUring.isAvailable();
            case NIO -> true;
        };
    }

    private Throwable unavailabilityCause() {
        return this == EPOLL ? Epoll.unavailabilityCause() : IoUring.unavailabilityCause();
    }

    public EventLoopGroup newGroup(int threads, String name) {
        IoHandlerFactory factory = switch (this) {
            case EPOLL -> EpollIoHandler.newFactory();
            case IO_URING -> IoUringIoHandler.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    /**
     * A listening channel for {@code address}. An IPv4 address gets an IPv4 socket on epoll and NIO: a dual-stack
     * socket bound to {@code 0.0.0.0} (what both make by default where the host has IPv6) would also take IPv6
     * connections, which an operator who wrote {@code 0.0.0.0} (nginx's {@code listen 8080}) may not filter. Netty's
     * io_uring listener offers no choice of family.
     */
    public ChannelFactory<ServerChannel> serverChannel(InetSocketAddress address) {
        boolean ipv4 = address.getAddress() instanceof Inet4Address;
        return switch (this) {
            case EPOLL -> ipv4 ? () -> new EpollServerSocketChannel(SocketProtocolFamily.INET)
                    : EpollServerSocketChannel::new;
            case IO_URING -> IoUringServerSocketChannel::new;
            case NIO -> ipv4 ? () -> new NioServerSocketChannel(SelectorProvider.provider(), SocketProtocolFamily.INET)
                    : NioServerSocketChannel::new;
        };
    }

    /**
     * A listening channel on descriptor {@code fd}, already bound and listening: the socket systemd passed. Only
     * Netty's epoll transport can take a descriptor it did not open.
     *
     * @throws ConfigException for the other transports
     */
    ChannelFactory<ServerChannel> inheritedServerChannel(int fd) {
        if (this != EPOLL) {
            throw new ConfigException("the " + name().toLowerCase(Locale.ROOT) + " transport cannot take the listening"
                    + " socket systemd passed (LISTEN_FDS): socket activation needs proxy.transport = epoll, or auto"
                    + " where epoll is available");
        }
        return () -> new EpollServerSocketChannel(fd);
    }

    /** The client channel type able to connect to {@code address}. */
    public Class<? extends Channel> clientChannel(EndpointAddress address) {
        boolean unix = address.isUnix();
        return switch (this) {
            case EPOLL -> unix ? EpollDomainSocketChannel.class : EpollSocketChannel.class;
            case IO_URING -> unix ? IoUringDomainSocketChannel.class : IoUringSocketChannel.class;
            case NIO -> unix ? NioDomainSocketChannel.class : NioSocketChannel.class;
        };
    }

    /** The socket address this transport's channels connect to; resolved once, at configuration time. */
    public SocketAddress socketAddress(EndpointAddress address) {
        if (address.isUnix()) {
            String path = address.unixPath().toString();
            return this == NIO ? UnixDomainSocketAddress.of(path) : new DomainSocketAddress(path);
        }
        return new InetSocketAddress(address.tcp().host(), address.tcp().port());
    }
}
