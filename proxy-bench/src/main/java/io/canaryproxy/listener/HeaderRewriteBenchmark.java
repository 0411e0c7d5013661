package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The request header rewrite of a typical browser request, written as the upstream's request head: hop-by-hop
 * headers out, X-Forwarded-* in, a request id, the release name. (In the listener's package: the rewrite is package-private.)
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class HeaderRewriteBenchmark {

    private static HttpRequest browserRequest() {
        // With the headers the listener's decoder makes.
        HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/shop/cart?item=42",
                RequestHeaders.FACTORY);
        r.headers()
                .set("Host", "shop.example")
                .set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
                .set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
                .set("Accept-Language", "en-GB,en;q=0.5")
                .set("Accept-Encoding", "gzip, deflate, br, zstd")
                .set("Connection", "keep-alive")
                .set("Cookie", "sessionid=4kq2x9v7c1; csrftoken=Zk3lQ9aP0w; cp_bucket=4242")
                .set("Upgrade-Insecure-Requests", "1");
        return r;
    }

    private final HttpRequest request = browserRequest();
    private final ByteBuf out = Unpooled.directBuffer(4096);

    /** Writes the upstream's request head from the client's decoded request. */
    @Benchmark
    public ByteBuf rewriteBrowserRequest() {
        out.clear();
        HeaderRewriter.writeRequestHead(out, request, "203.0.113.7", false, false, "green", 0x1234L, 0x5678L, -1);
        return out;
    }

}
