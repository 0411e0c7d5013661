package io.canaryproxy.listener;

import io.canaryproxy.routing.Router;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import java.util.List;

/**
 * The address of the client behind trusted proxies, for routing and the log: users without a bucket cookie are
 * routed by a hash of their address, and behind a load balancer the connection's peer is the balancer for all of
 * them. As nginx's realip module does with {@code real_ip_recursive on}, the client is the rightmost address of
 * {@code X-Forwarded-For} that is not a trusted proxy itself; the entries to its left were written by the client
 * and prove nothing.
 */
final class ForwardedClient {

    private ForwardedClient() {
    }

    /**
     * The {@link Router#addressBucket} of the forwarded client, or {@code peerBucket} when the header is absent or
     * an entry on the way is not an IP address.
     */
    static int addressBucket(HttpHeaders headers, TrustedProxies trusted, int peerBucket) {
        byte[] client = address(headers, trusted);
        return client == null ? peerBucket : Router.addressBucket(client);
    }

    /**
     * The forwarded client's address as text, for the log: {@code "203.0.113.9 via 10.0.0.2"}, or the peer's alone
     * when the header does not name one.
     */
    static String describe(HttpHeaders headers, TrustedProxies trusted, String peer) {
        byte[] client = address(headers, trusted);
        return client == null ? peer : NetUtil.bytesToIpAddress(client) + " via " + peer;
    }

    /** The forwarded client's address, or null when the header is absent or an entry on the way is not an address. */
    private static byte[] address(HttpHeaders headers, TrustedProxies trusted) {
        List<String> lines = headers.getAll(HeaderRewriter.X_FORWARDED_FOR);
        byte[] leftmost = null;
        for (int l = lines.size() - 1; l >= 0; l--) {
            String line = lines.get(l);
            int end = line.length();
            while (end > 0) {
                int comma = line.lastIndexOf(',', end - 1);
                byte[] address = parse(line.substring(comma + 1, end).trim());
                if (address == null) {
                    return null;
                }
                if (!trusted.contains(address)) {
                    return address;
                }
                leftmost = address;
                end = comma < 0 ? 0 : comma;
            }
        }
        // Every address is a trusted proxy's: the first of them stands for the client.
        return leftmost;
    }

    /** An IP literal, also with a port as some balancers write it ({@code 203.0.113.7:51234}, {@code [2001:db8::1]:443}). */
    private static byte[] parse(String entry) {
        byte[] address = NetUtil.createByteArrayFromIpAddressString(entry);
        if (address != null) {
            return address;
        }
        if (entry.startsWith("[")) {
            int close = entry.indexOf(']');
            return close < 0 ? null : NetUtil.createByteArrayFromIpAddressString(entry.substring(1, close));
        }
        int colon = entry.indexOf(':');
        return colon > 0 && colon == entry.lastIndexOf(':')
                ? NetUtil.createByteArrayFromIpAddressString(entry.substring(0, colon)) : null;
    }
}
