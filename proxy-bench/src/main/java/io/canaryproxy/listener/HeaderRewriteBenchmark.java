package io.canaryproxy.listener;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.CharsetUtil;
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

    private static final String HEAD = "GET /shop/cart?item=42 HTTP/1.1\r\n"
            + "Host: shop.example\r\n"
            + "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0\r\n"
            + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            + "Accept-Language: en-GB,en;q=0.5\r\n"
            + "Accept-Encoding: gzip, deflate, br, zstd\r\n"
            + "Connection: keep-alive\r\n"
            + "Cookie: sessionid=4kq2x9v7c1; csrftoken=Zk3lQ9aP0w; cp_bucket=4242\r\n"
            + "Upgrade-Insecure-Requests: 1\r\n\r\n";

    private final ByteBuf head = Unpooled.directBuffer(1024).writeBytes(HEAD.getBytes(CharsetUtil.ISO_8859_1));
    /** As the listener makes it of a head that came whole: parsed in place, not by Netty's decoder. */
    private final HttpRequest request = parse();

    private final ByteBuf out = Unpooled.directBuffer(4096);

    private HttpRequest parse() {
        return RequestHeadParser.parse(head, 0, head.readableBytes(), 4096, 8192);
    }

    /**
     * The request parsed from the client's bytes and its head written for the upstream: what the listener does for
     * every request, and the share of the work that moves between the two when the parser leaves more for later.
     */
    @Benchmark
    public ByteBuf parseAndRewriteBrowserRequest() {
        out.clear();
        HeaderRewriter.writeRequestHead(out, parse(), "203.0.113.7", false, false, "green", 0x1234L, 0x5678L, -1);
        return out;
    }

    /** Writes the upstream's request head from the client's decoded request. */
    @Benchmark
    public ByteBuf rewriteBrowserRequest() {
        out.clear();
        HeaderRewriter.writeRequestHead(out, request, "203.0.113.7", false, false, "green", 0x1234L, 0x5678L, -1);
        return out;
    }

}
