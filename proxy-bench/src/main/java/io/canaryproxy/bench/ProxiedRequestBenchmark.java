package io.canaryproxy.bench;

import com.typesafe.config.ConfigFactory;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ConfigLoader;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One keep-alive GET through the real proxy pipeline over a loopback pair, against the same GET sent straight to
 * the backend. The difference between {@code proxied} and {@code direct} is the proxy's cost per request, in time
 * and (with {@code -prof gc}) in bytes allocated; client and backend run in this JVM and cost the same in both.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Dio.netty.leakDetection.level=disabled"})
public class ProxiedRequestBenchmark {

    private static final byte[] BODY = "x".repeat(200).getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TOOL_REQUEST = ("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: jmh\r\n"
            + "Accept: */*\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    /** A stylesheet fetched by a browser that has its session, its CSRF token and its bucket: eleven headers. */
    private static final byte[] BROWSER_REQUEST = ("GET /static/app.css?v=3 HTTP/1.1\r\nHost: shop.example.com\r\n"
            + "Connection: keep-alive\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
            + "Gecko) Chrome/120.0 Safari/537.36\r\nAccept: text/css,*/*;q=0.1\r\nSec-Fetch-Site: same-origin\r\n"
            + "Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: style\r\nReferer: https://shop.example.com/cart/\r\n"
            + "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-GB,en;q=0.9\r\n"
            + "Cookie: sessionid=abc123def456; csrftoken=xyz789; cp_bucket=4242\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);

    /** Who sends the GET: a tool's three headers, or a browser's eleven. */
    @Param({"tool", "browser"})
    public String client;

    private EventLoopGroup backendGroup;
    private Channel backend;
    private CanaryProxy proxy;
    private Client direct;
    private Client proxied;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        backendGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        backend = new ServerBootstrap().group(backendGroup).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192),
                                new SimpleChannelInboundHandler<HttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, HttpRequest msg) {
                                        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.OK, Unpooled.wrappedBuffer(BODY));
                                        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, BODY.length);
                                        ctx.writeAndFlush(r);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
        int port = ((InetSocketAddress) backend.localAddress()).getPort();
        proxy = CanaryProxy.start(ConfigLoader.fromConfig(ConfigFactory.parseString("""
                proxy {
                  listen = "127.0.0.1:0"
                  threads = 1
                  admin.listen = "127.0.0.1:0"
                  state-file = ""
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  health-check.interval = 0
                }
                """.formatted(port))));
        byte[] request = client.equals("browser") ? BROWSER_REQUEST : TOOL_REQUEST;
        direct = new Client(new InetSocketAddress("127.0.0.1", port), request);
        proxied = new Client(proxy.listenAddress(), request);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        direct.close();
        proxied.close();
        proxy.close();
        backend.close().syncUninterruptibly();
        backendGroup.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    @Benchmark
    public int direct() throws IOException {
        return direct.get();
    }

    @Benchmark
    public int proxied() throws IOException {
        proxiedCalls++;
        return proxied.get();
    }

    // The proxy's own allocation, apart from the client's and the backend's (the backend decodes the headers the
    // proxy adds, which -prof gc charges to "proxied"): bytes allocated by its event-loop threads per request.
    private long proxiedCalls;
    private long proxyAllocatedAtStart;

    @Setup(Level.Iteration)
    public void markProxyAllocation() {
        proxiedCalls = 0;
        proxyAllocatedAtStart = proxyThreadsAllocated();
    }

    @TearDown(Level.Iteration)
    public void reportProxyAllocation() {
        if (proxiedCalls > 0) {
            System.out.printf("%n  proxy event loop: %d B allocated per proxied request%n",
                    (proxyThreadsAllocated() - proxyAllocatedAtStart) / proxiedCalls);
        }
    }

    private static long proxyThreadsAllocated() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("canary-proxy-")) {
                sum += threads.getThreadAllocatedBytes(t.getId());
            }
        }
        return sum;
    }

    /** A keep-alive client that knows the response is a 200-byte Content-Length body. */
    private static final class Client {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;
        private final byte[] buf = new byte[4096];
        private final byte[] request;

        Client(InetSocketAddress address, byte[] request) throws IOException {
            this.request = request;
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(address);
            out = socket.getOutputStream();
            in = socket.getInputStream();
        }

        int get() throws IOException {
            out.write(request);
            int total = 0;
            int headEnd = -1;
            int contentLength = -1;
            while (true) {
                int n = in.read(buf, total, buf.length - total);
                if (n < 0) {
                    throw new IOException("closed");
                }
                total += n;
                if (headEnd < 0) {
                    for (int i = 3; i < total; i++) {
                        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
                            headEnd = i + 1;
                            contentLength = BODY.length;
                            break;
                        }
                    }
                }
                if (headEnd >= 0 && total >= headEnd + contentLength) {
                    return total;
                }
            }
        }

        void close() throws IOException {
            socket.close();
        }
    }
}
