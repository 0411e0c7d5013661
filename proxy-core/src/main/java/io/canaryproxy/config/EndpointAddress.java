package io.canaryproxy.config;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where one upstream process listens: a TCP {@code host:port} or a Unix socket {@code unix:/path}.
 * Exactly one of {@link #tcp()} and {@link #unixPath()} is non-null.
 */
public record EndpointAddress(HostPort tcp, Path unixPath) {

    /** {@code sun_path} holds 108 bytes on Linux, the last of them the terminating zero. */
    static final int MAX_SOCKET_PATH_BYTES = 107;

    public EndpointAddress {
        if ((tcp == null) == (unixPath == null)) {
            throw new IllegalArgumentException("an endpoint is either host:port or unix:/path");
        }
    }

    /**
     * Parses {@code unix:/run/app/blue.sock} or {@code 127.0.0.1:8001}.
     *
     * @throws IllegalArgumentException with a message fit for an operator
     */
    public static EndpointAddress parse(String text) {
        String s = text.trim();
        if (s.startsWith("unix:")) {
            String path = s.substring("unix:".length());
            if (path.isEmpty()) {
                throw new IllegalArgumentException("expected unix:/path/to/socket");
            }
            if (path.contains("unix:")) {
                throw new IllegalArgumentException(HostPort.several("unix:/run/app/a.sock", "unix:/run/app/b.sock"));
            }
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException("expected an absolute path such as unix:/run/app/" + path
                        + " (a relative one would depend on the directory the proxy was started in)");
            }
            int bytes = path.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_SOCKET_PATH_BYTES) {
                throw new IllegalArgumentException("a socket path of at most " + MAX_SOCKET_PATH_BYTES
                        + " bytes (the kernel's limit for a Unix socket address), not " + bytes);
            }
            return new EndpointAddress(null, Path.of(path));
        }
        if (s.startsWith("/")) {
            throw new IllegalArgumentException("expected host:port, or unix:" + s + " for a Unix socket");
        }
        return new EndpointAddress(HostPort.parse(s), null);
    }

    public boolean isUnix() {
        return unixPath != null;
    }

    /**
     * Whether this is a TCP address of this machine's loopback interface: {@code localhost}, {@code 127.x.x.x} or
     * {@code ::1}. Told from the text, without a name lookup: another name for this machine counts as remote.
     */
    public boolean isLoopback() {
        if (tcp == null) {
            return false;
        }
        String host = tcp.host();
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        byte[] ip = NetUtil.createByteArrayFromIpAddressString(host);
        if (ip == null) {
            return false;
        }
        try {
            return InetAddress.getByAddress(ip).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    @Override
    public String toString() {
        return isUnix() ? "unix:" + unixPath : tcp.toString();
    }
}
