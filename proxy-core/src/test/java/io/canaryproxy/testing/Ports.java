package io.canaryproxy.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** Loopback TCP ports and addresses for tests. */
public final class Ports {

    private Ports() {
    }

    /**
     * A loopback port the kernel has just handed out and taken back: nothing listens there, so a connect to it is
     * refused, until something binds it (a server the test starts, or, rarely, another process).
     */
    public static int unused() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether the IPv6 loopback address can be bound here: a container may have IPv6 off. */
    public static boolean ipv6Loopback() {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
