package io.canaryproxy.listener;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The checks on a decoded request head that the decoder's byte scan does not make. */
class RequestRulesTest {

    @ParameterizedTest
    @ValueSource(strings = {"shop.example", "shop.example:8080", "127.0.0.1:80", "[::1]", "[::1]:8443",
            "[::ffff:192.0.2.1]", "xn--caf-dma.example", "a,b", "under_score.example", "%41.example"})
    void validHostValues(String host) {
        assertThat(RequestRules.isValidHost(host)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", ":80", "a b", "a/b", "user@a", "a:http", "a:80:81", "[::1", "[]", "[::1]x", "a?b",
            "a#b",
            "a\\b", "\"a\""})
    void invalidHostValues(String host) {
        assertThat(RequestRules.isValidHost(host)).isFalse();
    }

    /**
     * RFC 9112 3.2.2: the upstream gets the origin form, and Host from the target. RFC 9110 4.2.4: user information
     * in the target is an error, as nginx takes it.
     */
    @Test
    void anAbsoluteTargetBecomesOriginFormAndItsHost() {
        HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
                "http://shop.example:8080/cart?id=1");
        request.headers().set(HttpHeaderNames.HOST, "other.example");

        assertThat(RequestRules.check(request)).isNull();
        assertThat(request.uri()).isEqualTo("/cart?id=1");
        assertThat(request.headers().get(HttpHeaderNames.HOST)).isEqualTo("shop.example:8080");

        // RFC 9112 3.2.2: the Host that came with it is ignored, however bad.
        HttpRequest emptyHost = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "http://shop.example/");
        emptyHost.headers().set(HttpHeaderNames.HOST, "");
        assertThat(RequestRules.check(emptyHost)).isNull();
        assertThat(emptyHost.headers().get(HttpHeaderNames.HOST)).isEqualTo("shop.example");

        for (String target : new String[] {"http://user:secret@shop.example:8080/cart", "http://user@a:http/",
                "http://:80/", "http:///x"}) {
            HttpRequest bad = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, target);
            bad.headers().set(HttpHeaderNames.HOST, "x");
            assertThat(RequestRules.check(bad)).as(target).isEqualTo(HttpResponseStatus.BAD_REQUEST);
        }
    }

    /** RFC 9110 9.1: gunicorn would run "get" as GET and "trace" as TRACE. Other methods of any name go on. */
    @ParameterizedTest
    @ValueSource(strings = {"get", "Get", "trace", "connect", "propfind"})
    void aMethodWithLowerCaseLettersIsRefused(String method) {
        HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), "/");
        request.headers().set(HttpHeaderNames.HOST, "shop.example");

        assertThat(RequestRules.check(request)).isEqualTo(HttpResponseStatus.BAD_REQUEST);

        HttpRequest custom = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf("PURGE-ALL_2"), "/");
        custom.headers().set(HttpHeaderNames.HOST, "shop.example");
        assertThat(RequestRules.check(custom)).isNull();
    }

    /**
     * RFC 9110 15.6.2: CONNECT and TRACE are served for no target. TRACE would echo the client's cookies and the
     * proxy's forwarding headers back; nginx refuses it as well.
     */
    @ParameterizedTest
    @ValueSource(strings = {"TRACE /", "CONNECT shop.example:443", "CONNECT /"})
    void connectAndTraceAreNotForwarded(String line) {
        String[] parts = line.split(" ");
        HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(parts[0]), parts[1]);
        request.headers().set(HttpHeaderNames.HOST, "shop.example");

        assertThat(RequestRules.check(request)).isEqualTo(HttpResponseStatus.NOT_IMPLEMENTED);
    }

    /** RFC 9110 7.6.2: Max-Forwards is 1*DIGIT; anything else is passed on as it came (-1). */
    @Test
    void maxForwardsIsReadAsDigitsOnly() {
        assertThat(maxForwards(null)).isEqualTo(-1);
        assertThat(maxForwards("0")).isZero();
        assertThat(maxForwards("10")).isEqualTo(10);
        assertThat(maxForwards("007")).isEqualTo(7);
        for (String bad : new String[] {"", "-1", "+1", "1.5", "one", "1 2", "9999999999999999999"}) {
            assertThat(maxForwards(bad)).as(bad).isEqualTo(-1);
        }
    }

    private static long maxForwards(String value) {
        HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.OPTIONS, "*");
        if (value != null) {
            request.headers().set(HttpHeaderNames.MAX_FORWARDS, value);
        }
        return RequestRules.maxForwards(request.headers());
    }
}
