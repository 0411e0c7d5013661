package io.canaryproxy.bench;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.config.ConfigLoader;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.listener.Transport;
import io.canaryproxy.routing.RouteState;
import io.canaryproxy.routing.RouteTable;
import io.canaryproxy.routing.Router;
import io.canaryproxy.upstream.Upstreams;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The route decision for one request at a 10 % canary: read the route table, find the bucket cookie, compare.
 * The header values are views of a request head's bytes, as the listener hands them over. Run with
 * {@code -prof gc} to see the allocation per decision (the target is zero).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouteDecisionBenchmark {

    private EventLoopGroup group;
    private Router router;
    private final Router.Decision decision = new Router.Decision();
    private CharSequence cookies;
    private CharSequence canaryHeader;

    @Setup(Level.Trial)
    public void setUp() {
        ProxyConfig config = ConfigLoader.fromConfig(ConfigFactory.parseString("""
                proxy {
                  listen = "127.0.0.1:0"
                  admin.listen = "127.0.0.1:0"
                  state-file = ""
                  releases.blue.endpoints = ["127.0.0.1:9"]
                  releases.green.endpoints = ["127.0.0.1:9"]
                  routing.stable = blue
                }
                """));
        group = Transport.NIO.newGroup(1, "bench");
        Upstreams upstreams = new Upstreams(config, Transport.NIO, new EventLoop[] {group.next()},
                new CompositeMeterRegistry());
        RouteState routes = new RouteState(upstreams, new RouteTable("blue", "green", 1000, 1, Instant.now()), null);
        router = new Router(routes, upstreams, config.routing());

        String head = "GET / HTTP/1.1\r\nHost: shop.example\r\n"
                + "Cookie: sessionid=4kq2x9v7c1; csrftoken=Zk3lQ9aP0w; cp_bucket=4242; theme=dark\r\n"
                + "X-Canary: always\r\n\r\n";
        cookies = valueIn(head, "Cookie: ");
        canaryHeader = valueIn(head, "X-Canary: ");
    }

    private static AsciiString valueIn(String head, String nameColonSpace) {
        byte[] bytes = head.getBytes(StandardCharsets.US_ASCII);
        int start = head.indexOf(nameColonSpace) + nameColonSpace.length();
        return new AsciiString(bytes, start, head.indexOf('\r', start) - start, false);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    @Benchmark
    public Object noCookie() {
        router.route(null, null, 1234, decision);
        return decision.release();
    }

    @Benchmark
    public Object bucketCookieAmongOthers() {
        router.route(cookies, null, 1234, decision);
        return decision.release();
    }

    @Benchmark
    public Object overrideHeader() {
        router.route(null, canaryHeader, 1234, decision);
        return decision.release();
    }
}
