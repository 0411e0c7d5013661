package io.canaryproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.testing.TestConfigs;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.Upstreams;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.AsciiString;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The route decision, with simulated users: each has a cookie jar and its own address, makes a first request
 * without a cookie and keeps whatever bucket cookie it is given.
 */
class RouterTest {

    /** Two-sided bounds a correct router leaves with probability below one in a million (z = 4.89). */
    private static final double Z = 4.89;
    private static final int USERS = 1000;

    private EventLoopGroup group;
    private RouteState routes;

    @BeforeEach
    void start() {
        group = Transport.NIO.newGroup(1, "router-test");
        routes = newRouteState(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:9"]
                  releases.green.endpoints = ["127.0.0.1:9"]
                  routing.stable = blue
                }
                """));
    }

    @AfterEach
    void stop() {
        group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    private RouteState newRouteState(ProxyConfig config) {
        Upstreams upstreams = new Upstreams(config, Transport.NIO, new EventLoop[] {group.next()},
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
        routes = new RouteState(upstreams, new RouteTable("blue", null, 0, 0, Instant.now()), null);
        router = new Router(routes, upstreams, config.routing());
        return routes;
    }

    private Router router;

    private void weight(double percent) {
        routes.update(t -> t.withCanary("green", (int) Math.round(percent * 100)));
    }

    /** A browser: an address, and a jar that keeps the bucket cookie. */
    private final class User {
        final int addressBucket;
        String cookie;

        User(InetAddress address) {
            this.addressBucket = Router.addressBucket(address);
        }

        String visit() {
            Router.Decision d = new Router.Decision();
            router.route(cookie == null ? null : view("sessionid=x1; " + cookie + "; csrftoken=y2"), null,
                    addressBucket, d);
            if (d.setBucketCookie()) {
                cookie = "cp_bucket=" + d.bucket();
            }
            return d.release().name();
        }
    }

    private static InetAddress randomAddress() throws Exception {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        return InetAddress.getByAddress(b);
    }

    private List<User> users() throws Exception {
        List<User> users = new ArrayList<>();
        for (int i = 0; i < USERS; i++) {
            users.add(new User(randomAddress()));
        }
        return users;
    }

    @ParameterizedTest(name = "weight {0} %")
    @ValueSource(doubles = {1, 10, 50})
    void theCanaryShareOfUsersIsWithinBinomialBounds(double percent) throws Exception {
        weight(percent);
        int onCanary = 0;
        for (User u : users()) {
            String first = u.visit();
            for (int i = 0; i < 5; i++) {
                assertThat(u.visit()).as("a user never flaps at one weight").isEqualTo(first);
            }
            if (first.equals("green")) {
                onCanary++;
            }
        }
        double p = percent / 100;
        double mean = USERS * p;
        double sigma = Math.sqrt(USERS * p * (1 - p));
        assertThat((double) onCanary).isBetween(mean - Z * sigma, mean + Z * sigma);
    }

    @Test
    void raisingTheWeightOnlyMovesUsersToTheCanaryAndLoweringOnlyBack() throws Exception {
        List<User> users = users();
        weight(10);
        List<String> at10 = new ArrayList<>();
        for (User u : users) {
            at10.add(u.visit());
        }
        weight(50);
        List<String> at50 = new ArrayList<>();
        for (User u : users) {
            at50.add(u.visit());
        }
        weight(10);
        for (int i = 0; i < users.size(); i++) {
            String back = users.get(i).visit();
            if (at10.get(i).equals("green")) {
                assertThat(at50.get(i)).as("on the canary at 10 %% stays there at 50 %%").isEqualTo("green");
            }
            if (at50.get(i).equals("blue")) {
                assertThat(back).as("on stable at 50 %% stays there at 10 %%").isEqualTo("blue");
            }
            assertThat(back).as("10 %% again lands every user where 10 %% did").isEqualTo(at10.get(i));
        }
        assertThat(at50.stream().filter("green"::equals).count())
                .isGreaterThan(at10.stream().filter("green"::equals).count());
    }

    @Test
    void clientsWithoutCookiesAreStickyByAddress() throws Exception {
        weight(50);
        for (int i = 0; i < 200; i++) {
            InetAddress address = randomAddress();
            int bucket = Router.addressBucket(address);
            Router.Decision d = new Router.Decision();
            router.route(null, null, bucket, d);
            String first = d.release().name();
            for (int j = 0; j < 5; j++) {
                router.route(null, null, Router.addressBucket(address), d);
                assertThat(d.release().name()).isEqualTo(first);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cp_bucket=abc", "cp_bucket=12345", "cp_bucket=-1", "cp_bucket=+12", "cp_bucket=",
        "cp_bucket=1 2", "cp_bucket=0x1f"})
    void aMalformedBucketCookieCountsAsAbsentAndIsReplaced(String cookie) {
        weight(50);
        Router.Decision d = new Router.Decision();
        router.route(view(cookie), null, 1234, d);
        assertThat(d.setBucketCookie()).isTrue();
        assertThat(d.bucket()).isBetween(0, 9999);
    }

    @Test
    void theBucketCookieIsFoundAmongOthersAndNotByASuffix() {
        // As a String (what an embedder may pass) and as a view of a request's bytes (what the listener passes).
        for (Function<String, CharSequence> form : List.<Function<String, CharSequence>>of(s -> s, RouterTest::view)) {
            assertThat(Router.bucketOf(form.apply("a=1; cp_bucket=42; b=2"), "cp_bucket")).isEqualTo(42);
            assertThat(Router.bucketOf(form.apply("cp_bucket=0"), "cp_bucket")).isEqualTo(0);
            assertThat(Router.bucketOf(form.apply("cp_bucket=7 ; a=1"), "cp_bucket")).isEqualTo(7);
            assertThat(Router.bucketOf(form.apply("xcp_bucket=5"), "cp_bucket")).isEqualTo(Router.NO_BUCKET);
            assertThat(Router.bucketOf(form.apply("a=cp_bucket=5"), "cp_bucket")).isEqualTo(Router.NO_BUCKET);
            assertThat(Router.bucketOf(form.apply("a=x cp_bucket=5"), "cp_bucket")).as("inside another's value")
                    .isEqualTo(Router.NO_BUCKET);
            assertThat(Router.bucketOf(form.apply("a=1;cp_bucket=8; "), "cp_bucket")).isEqualTo(8);
            assertThat(Router.bucketOf(form.apply("cp_bucket=x; cp_bucket=3"), "cp_bucket")).as("the first counts")
                    .isEqualTo(Router.NO_BUCKET);
            assertThat(Router.bucketOf(form.apply("sessionid=x, cp_bucket=42"), "cp_bucket"))
                    .as("a header folded with a comma is one pair, as the application reads it too")
                    .isEqualTo(Router.NO_BUCKET);
            assertThat(Router.bucketOf(form.apply("xcp_bucket=5; cp_bucket=6"), "cp_bucket")).isEqualTo(6);
            assertThat(Router.bucketOf(form.apply("noequals; cp_bucket=9999"), "cp_bucket")).isEqualTo(9999);
            assertThat(Router.bucketOf(form.apply("cp_bucket=\"5\""), "cp_bucket")).as("quoted, RFC 6265 4.1.1")
                    .isEqualTo(5);
            assertThat(Router.bucketOf(form.apply("cp_bucket=\"5"), "cp_bucket")).isEqualTo(Router.NO_BUCKET);
        }
    }

    @Test
    void overridesTakeTheHeaderFirstThenTheCookieThenTheWeight() {
        weight(0.01);
        assertThat(decide("cp_release=blue", "always")).isEqualTo("green");
        assertThat(decide("cp_release=green", "Never")).isEqualTo("blue");
        assertThat(decide("cp_bucket=9999; cp_release=green", null)).isEqualTo("green");
        assertThat(decide("cp_bucket=9999; cp_release=greener", null)).isEqualTo("blue");
        assertThat(decide("cp_bucket=9999; cp_release=green ; a=1", null)).isEqualTo("green");
        assertThat(decide("cp_bucket=9999; cp_release=purple", null)).isEqualTo("blue");
        assertThat(decide("cp_bucket=9999", "sometimes")).as("an unknown X-Canary value is ignored")
                .isEqualTo("blue");
    }

    @Test
    void overridesCanBeTurnedOff() {
        newRouteState(TestConfigs.parse("""
                proxy {
                  releases.blue.endpoints = ["127.0.0.1:9"]
                  releases.green.endpoints = ["127.0.0.1:9"]
                  routing { stable = blue, overrides = off }
                }
                """));
        weight(0.01);
        assertThat(decide("cp_bucket=9999; cp_release=green", "always")).isEqualTo("blue");
    }

    @Test
    void withoutACanaryEveryoneGoesToStableAndNoCookieIsSet() {
        Router.Decision d = new Router.Decision();
        router.route(null, null, 0, d);
        assertThat(d.release().name()).isEqualTo("blue");
        assertThat(d.setBucketCookie()).isFalse();
    }

    private String decide(String cookies, String canaryHeader) {
        Router.Decision d = new Router.Decision();
        router.route(view(cookies), view(canaryHeader), 5000, d);
        Release r = d.release();
        return r.name();
    }

    /** The value as the listener hands it over: a view of the request's bytes, not at their start. */
    private static CharSequence view(String value) {
        if (value == null) {
            return null;
        }
        byte[] head = ("Cookie: " + value + "\r\n").getBytes(StandardCharsets.US_ASCII);
        return new AsciiString(head, 8, value.length(), false);
    }
}
