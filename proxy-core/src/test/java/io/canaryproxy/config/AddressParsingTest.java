package io.canaryproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AddressParsingTest {

    @Test
    void hostPortParsesNamesIpv4AndBracketedIpv6() {
        assertThat(HostPort.parse("127.0.0.1:8080")).isEqualTo(new HostPort("127.0.0.1", 8080));
        assertThat(HostPort.parse(" localhost:0 ")).isEqualTo(new HostPort("localhost", 0));
        assertThat(HostPort.parse("[::1]:8080")).isEqualTo(new HostPort("::1", 8080));
        assertThat(HostPort.parse("[fe80::1%eth0]:65535")).isEqualTo(new HostPort("fe80::1%eth0", 65535));
    }

    @Test
    void hostPortPrintsAsItParses() {
        for (String text : new String[] {"127.0.0.1:8080", "[::1]:8080", "app.internal:8001"}) {
            assertThat(HostPort.parse(text).toString()).isEqualTo(text);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            localhost              | expected host:port
            localhost:             | expected host:port
            :8080                  | expected host:port
            []:8080                | expected host:port
            my host:80             | expected host:port
            ::1:8080               | an IPv6 host must be written in brackets
            [::1:8080              | an IPv6 host must be written in brackets
            localhost:http         | port is not a number
            localhost:+80          | port is not a number
            localhost:-1           | port must be between 0 and 65535
            localhost:-            | port is not a number
            localhost:65536        | port must be between 0 and 65535
            localhost:99999999999  | port must be between 0 and 65535
            http://localhost:8080  | without a scheme
            127.0.0.1:8001, 127.0.0.1:8002 | several go in a list such as ["127.0.0.1:8001", "127.0.0.1:8002"]
            127.0.0.1:8001 127.0.0.1:8002 | several go in a list
            127.0.0.1:8001;127.0.0.1:8002 | several go in a list
            """)
    void hostPortRefusesWithAReason(String text, String reason) {
        assertThatThrownBy(() -> HostPort.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(reason);
    }

    @Test
    void endpointIsAUnixSocketOrTcp() {
        EndpointAddress unix = EndpointAddress.parse("unix:/run/app/blue.sock");
        assertThat(unix.isUnix()).isTrue();
        assertThat(unix.unixPath()).isEqualTo(Path.of("/run/app/blue.sock"));
        assertThat(unix.tcp()).isNull();
        assertThat(unix).hasToString("unix:/run/app/blue.sock");

        EndpointAddress tcp = EndpointAddress.parse("[::1]:8001");
        assertThat(tcp.isUnix()).isFalse();
        assertThat(tcp.tcp()).isEqualTo(new HostPort("::1", 8001));
        assertThat(tcp).hasToString("[::1]:8001");
    }

    @Test
    void endpointRefusesWithAReason() {
        assertThatThrownBy(() -> EndpointAddress.parse("unix:"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("expected unix:/path/to/socket");
        assertThatThrownBy(() -> EndpointAddress.parse("/run/app.sock"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("expected host:port, or unix:/run/app.sock for a Unix socket");
        assertThatThrownBy(() -> EndpointAddress.parse("127.0.0.1"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected host:port");
        assertThatThrownBy(() -> EndpointAddress.parse("unix:/run/a.sock, unix:/run/b.sock"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("expected one address; several go in a list such as [\"unix:/run/app/a.sock\","
                        + " \"unix:/run/app/b.sock\"]");
        assertThatThrownBy(() -> new EndpointAddress(null, null)).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @CsvSource({"127.0.0.1:8001, true", "127.3.2.1:80, true", "localhost:8001, true", "[::1]:8001, true",
            "10.0.0.7:8001, false", "app.internal:8001, false", "[2001:db8::1]:80, false", "unix:/run/a.sock, false"})
    void loopbackAddressesAreToldWithoutALookup(String endpoint, boolean loopback) {
        assertThat(EndpointAddress.parse(endpoint).isLoopback()).isEqualTo(loopback);
    }
}
