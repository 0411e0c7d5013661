package io.canaryproxy.listener;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * The clients whose {@code X-Forwarded-*} headers are believed: IP literals and CIDR ranges, matched once per
 * connection.
 */
final class TrustedProxies {

    private record Range(byte[] network, int prefix) {
        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefix / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (address[full] & mask) == (network[full] & mask);
        }
    }

    private final List<Range> ranges;

    TrustedProxies(List<String> entries) {
        List<Range> parsed = new ArrayList<>();
        for (String entry : entries) {
            String text = entry.trim();
            int slash = text.indexOf('/');
            byte[] network = literal(slash < 0 ? text : text.substring(0, slash));
            int prefix = slash < 0 ? network.length * 8 : Integer.parseInt(text.substring(slash + 1));
            parsed.add(new Range(network, prefix));
        }
        this.ranges = List.copyOf(parsed);
    }

    boolean contains(InetAddress address) {
        return address != null && contains(address.getAddress());
    }

    /** {@link #contains(InetAddress)} for the bytes of an IPv4 (4) or IPv6 (16) address. */
    boolean contains(byte[] bytes) {
        for (Range r : ranges) {
            if (r.contains(bytes)) {
                return true;
            }
        }
        return false;
    }

    private static byte[] literal(String ip) {
        // The config loader has already checked that this is an IP literal, so no name lookup happens here.
        try {
            return InetAddress.getByName(ip).getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address: " + ip, e);
        }
    }
}
