package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.routing.Router;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class ForwardedClientTest {

    private static final int PEER = -7;
    private static final TrustedProxies TRUSTED = new TrustedProxies(List.of("10.0.0.0/8", "2001:db8::/32"));

    private static int bucket(String... lines) {
        HttpHeaders h = new DefaultHttpHeaders();
        for (String line : lines) {
            h.add("X-Forwarded-For", line);
        }
        return ForwardedClient.addressBucket(h, TRUSTED, PEER);
    }

    private static int of(String ip) throws Exception {
        return Router.addressBucket(InetAddress.getByName(ip));
    }

    @Test
    void theClientIsTheRightmostAddressThatIsNoTrustedProxy() throws Exception {
        assertThat(bucket("203.0.113.7")).isEqualTo(of("203.0.113.7"));
        assertThat(bucket("198.51.100.1, 203.0.113.7, 10.1.2.3")).isEqualTo(of("203.0.113.7"));
        assertThat(bucket("198.51.100.1, 203.0.113.7", "10.1.2.3,10.9.9.9")).isEqualTo(of("203.0.113.7"));
        assertThat(bucket("2001:db9::5, 2001:db8::1")).isEqualTo(of("2001:db9::5"));
    }

    @Test
    void portsAndBracketsAsBalancersWriteThemAreIgnored() throws Exception {
        assertThat(bucket("203.0.113.7:51234")).isEqualTo(of("203.0.113.7"));
        assertThat(bucket("[2001:db9::5]:443")).isEqualTo(of("2001:db9::5"));
    }

    @Test
    void withoutAUsableAddressThePeerCounts() throws Exception {
        assertThat(bucket()).isEqualTo(PEER);
        assertThat(bucket("unknown")).isEqualTo(PEER);
        assertThat(bucket("203.0.113.7, not-an-ip, 10.1.2.3")).as("a gap in the chain of trust").isEqualTo(PEER);
        assertThat(bucket("10.1.1.1, 10.2.2.2")).as("only trusted proxies: the first of them")
                .isEqualTo(of("10.1.1.1"));
    }

    @Test
    void theLogNamesTheForwardedClientAndThePeer() {
        HttpHeaders h = new DefaultHttpHeaders().add("X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.1.2.3");
        assertThat(ForwardedClient.describe(h, TRUSTED, "10.0.0.2")).isEqualTo("203.0.113.7 via 10.0.0.2");
        assertThat(ForwardedClient.describe(new DefaultHttpHeaders(), TRUSTED, "10.0.0.2")).isEqualTo("10.0.0.2");
        assertThat(ForwardedClient.describe(new DefaultHttpHeaders().add("X-Forwarded-For", "unknown"), TRUSTED,
                "10.0.0.2")).isEqualTo("10.0.0.2");
    }
}
