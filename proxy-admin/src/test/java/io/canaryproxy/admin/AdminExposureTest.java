package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.canaryproxy.config.AdminConfig;
import io.canaryproxy.config.HostPort;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The admin API refuses a listener other machines can reach unless mutations need a token. */
class AdminExposureTest {

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0:9901", "[::]:9901", "192.0.2.10:9901", "no-such-host.invalid:9901"})
    void refusesANonLoopbackListenerWithoutAToken(String listen) {
        AdminConfig config = new AdminConfig(HostPort.parse(listen), "");
        assertThatThrownBy(() -> AdminServer.checkExposure(config))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("refusing to start the admin API on")
                .hasMessageContaining("proxy.admin.token");
        assertThatThrownBy(() -> new AdminServer(new FakeProxy(), config))
                .isInstanceOf(IllegalStateException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\t"})
    void aBlankTokenCountsAsNone(String token) {
        AdminConfig config = new AdminConfig(HostPort.parse("0.0.0.0:9901"), token);
        assertThatThrownBy(() -> AdminServer.checkExposure(config)).isInstanceOf(IllegalStateException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0:9901", "[::]:9901", "192.0.2.10:9901"})
    void acceptsANonLoopbackListenerWithAToken(String listen) {
        assertThatCode(() -> AdminServer.checkExposure(new AdminConfig(HostPort.parse(listen), "s3cret")))
                .doesNotThrowAnyException();
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1:9901", "127.0.0.2:9901", "[::1]:9901", "localhost:9901"})
    void acceptsALoopbackListenerWithoutAToken(String listen) {
        assertThatCode(() -> AdminServer.checkExposure(new AdminConfig(HostPort.parse(listen), "")))
                .doesNotThrowAnyException();
    }
}
