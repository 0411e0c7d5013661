package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class TrustedProxiesTest {

    private static boolean trusted(List<String> entries, String ip) throws Exception {
        return new TrustedProxies(entries).contains(InetAddress.getByName(ip));
    }

    @Test
    void literalsAndRanges() throws Exception {
        List<String> entries = List.of("10.0.0.0/8", "192.168.1.7", "fd00::/8", "172.16.0.0/12");
        assertThat(trusted(entries, "10.200.3.4")).isTrue();
        assertThat(trusted(entries, "11.0.0.1")).isFalse();
        assertThat(trusted(entries, "192.168.1.7")).isTrue();
        assertThat(trusted(entries, "192.168.1.8")).isFalse();
        assertThat(trusted(entries, "172.31.255.255")).isTrue();
        assertThat(trusted(entries, "172.32.0.0")).isFalse();
        assertThat(trusted(entries, "fd12::1")).isTrue();
        assertThat(trusted(entries, "fe80::1")).isFalse();
    }

    @Test
    void nothingIsTrustedByDefault() throws Exception {
        assertThat(trusted(List.of(), "127.0.0.1")).isFalse();
    }
}
