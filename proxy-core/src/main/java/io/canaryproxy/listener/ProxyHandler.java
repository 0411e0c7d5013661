package io.canaryproxy.listener;

import io.canaryproxy.internal.Descriptors;
import io.canaryproxy.internal.IoFailures;
import io.canaryproxy.metrics.ClientStage;
import io.canaryproxy.metrics.ReleaseMetrics.UpstreamError;
import io.canaryproxy.routing.Router;
import io.canaryproxy.staticfiles.StaticFiles;
import io.canaryproxy.upstream.Endpoint;
import io.canaryproxy.upstream.EndpointPool;
import io.canaryproxy.upstream.Release;
import io.canaryproxy.upstream.ResponseHead;
import io.canaryproxy.upstream.UpstreamConnection;
import io.canaryproxy.upstream.UpstreamListener;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelProgressiveFuture;
import io.netty.channel.ChannelProgressiveFutureListener;
import io.netty.channel.ChannelProgressivePromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.FileRegion;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: reads a request, picks a release and an endpoint, streams the request to a pooled
 * upstream connection on the same event loop and streams the response back.
 *
 * <p>Both channels read on their own (autoRead), which costs no epoll_ctl call per request. A message that cannot
 * be handled yet - a pipelined request while a response is still coming, a body chunk while the upstream
 * connection is not there or cannot take more - waits in a small queue, and reading stops until the queue is
 * handled: pipelined requests are answered in order and memory per request does not grow with body size. The
 * other direction is paced the same way: while the client cannot take more, the upstream is not read; and once a
 * client has taken none of a response for a moment, the rest goes through a file ({@link ResponseBuffer}), so that
 * a slow client does not hold the worker that answered it.
 *
 * <p>Retries follow RFC 9110 9.2.2: a request that reached no upstream (connect refused, socket file missing) goes
 * to an endpoint it has not failed on yet, whatever its method. One that was sent but got no response byte is sent
 * again only if its method is idempotent and its body was kept (at most {@link ListenerContext#replayLimit} bytes):
 * to the same endpoint on a new connection if it was lost on a kept-alive one, otherwise to an endpoint it has not
 * failed on yet (see {@link #retried}). A request with a non-idempotent method, or with a body too large to keep, is
 * always sent on a new connection, so it cannot be lost to a keep-alive connection the upstream closes at the same
 * moment (gunicorn does exactly that to idle connections when its workers restart).
 */
final class ProxyHandler extends ChannelInboundHandlerAdapter implements UpstreamListener {

    private static final Logger log = LoggerFactory.getLogger(ProxyHandler.class);
    private static final long LINGER_MILLIS = 2000;
    /** How long a stop waits for the first request of a connection that has sent none (see awaitFirstRequest). */
    private static final long FIRST_REQUEST_GRACE_MILLIS = 1000;
    /** The largest region of a spooled body written at once: io_uring's splice takes an int count. */
    private static final long SPOOL_REGION_MAX = 1L << 30;
    /** The largest body copied in after its response head (see {@link #heldHead}). */
    private static final int SMALL_BODY = 2048;
    /**
     * How long a client must have taken none of a response before the rest goes to disk. Not at once: on io_uring a
     * write completes only in a later turn of the loop, so the channel is unwritable right after every large flush
     * whatever the client's speed; a client that keeps up takes the bytes within microseconds.
     */
    private static final long BUFFER_AFTER_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    /** The analysis window's status for a client that gave up waiting: under 500, so not an error (nginx's 499). */
    private static final int CLIENT_CLOSED = 499;

    private final Listener listener;
    /** The listener's settings, taken afresh at every request head so that a reload reaches open connections. */
    private ListenerContext lc;
    private final StrictRequestDecoder decoder;
    private final ResponseEncoder encoder;
    private ChannelHandlerContext ctx;
    /** Writes from here skip the HTTP encoder: proxied responses are written as bytes. */
    private ChannelHandlerContext wire;
    private int loopIndex;
    private String clientIp;
    private boolean trustedClient;
    private java.net.InetAddress clientAddress;
    private ListenerContext trustedFor;
    private int addressBucket;
    private final Router.Decision decision = new Router.Decision();
    private HttpHeaders routedHeaders;
    /** Behind trusted proxies: the client's address bucket from the headers being routed, if routing asks. */
    private final Router.ClientAddress forwardedClient =
            () -> ForwardedClient.addressBucket(routedHeaders, lc.trustedProxies, addressBucket);
    private boolean secureClient;

    // Connection state.
    private boolean closing;
    /** Messages that came before they could be handled, in order; reading is off while any wait. */
    private final ArrayDeque<Object> pending = new ArrayDeque<>(2);
    private boolean draining;
    /**
     * When the static file being sent from disk last went out in part: a client that takes none of it for
     * {@code client-idle-timeout} is cut off, as one that stops reading a proxied response is. Only a file sent
     * from disk reports its progress; one sent from memory is never cut for want of it.
     */
    private long staticProgressNanos;
    private boolean staticFromDisk;
    private ChannelProgressiveFutureListener staticProgress;
    /** A static file being sent, and its release: {@code null} while none is. */
    private HttpRequest staticRequest;
    private Release staticRelease;
    /** Answered and closing: what the client still sends is dropped (see {@link #reject}). */
    private boolean lingering;
    /** Inside a read batch from the client: writes to the upstream are flushed once, at its end. */
    private boolean inClientRead;
    /** When the read batch from the client now handled began. */
    private long clientReadNanos;
    private boolean upstreamFlushPending;
    private boolean tunnel;
    /** The frames the upstream sends through a WebSocket tunnel; {@code null} for any other tunnel. */
    private WebSocketFrames framesFromUpstream;
    /** The tunnel is being ended: a Close frame goes to the client after the frame under way, then the close. */
    private boolean endingTunnel;
    private long idleSinceNanos;
    private long lastClientNanos;
    private io.netty.util.concurrent.Future<?> timer;
    private long tickDeadline;

    // The exchange in progress; request == null when there is none.
    private HttpRequest request;
    private Release release;
    /** Where the request goes if it reaches no endpoint of {@link #release} (see Router.Decision#fallback). */
    private Release fallback;
    private Endpoint endpoint;
    private UpstreamConnection upstream;
    private int ticket;
    /**
     * Times this request went to an upstream on a new connection, across releases. A connect that failed sent
     * nothing; a send on a kept-alive connection gets one more try if it meets an idle close (as in nginx).
     */
    private int sends;
    /**
     * Endpoints this request is not sent to again: those it could not connect to, and those that took it on a new
     * connection and closed it without an answer (a worker crashed on it, or gunicorn's --timeout killed it).
     */
    private List<Endpoint> failedOn;
    /** Connects tried again on an endpoint whose connect failed for a moment (see nextAfterConnectFailure). */
    private int connectRetries;
    private boolean idempotent;
    /** Whether a request head came on this connection: one that has sent none is not idle at a stop. */
    private boolean anyRequest;
    /** A stop waits for this connection's first request (see awaitFirstRequest). */
    private boolean inGrace;
    /**
     * The request goes out on a new connection: its method is not idempotent, or its body is larger than the proxy
     * keeps to send again, so it could not be retried if a kept-alive connection closed under it.
     */
    private boolean freshConnection;
    private boolean keepAlive;
    private boolean http10;
    private boolean headRequest;
    private boolean expectContinue;
    private boolean upgradeRequested;
    private boolean requestComplete;
    private boolean responseStarted;
    private boolean upstreamReusable;
    /**
     * A chunked body is being collected before the request goes upstream: gunicorn passes such a body on without
     * CONTENT_LENGTH, and Django reads that many bytes, none. Collected whole, it goes with a Content-Length, as
     * nginx sends it: up to the replay limit (the memory a request may hold anyway) in {@link #replay}, beyond it
     * in {@link #spool}, so that memory does not grow with the body.
     */
    private boolean collecting;
    /** The length of a chunked body collected whole, sent as its Content-Length; -1 when not. */
    private long collectedLength = -1;
    /** The collected chunked body, once it outgrew the replay limit. */
    private BodySpool spool;
    /**
     * The connection the spool is still being written to. It is not given back to the pool before the body is all
     * out, even if the answer came first: the next request would queue behind the rest of the body.
     */
    private UpstreamConnection spoolWriteOn;
    /** The request has a body, so an answer before its end must close the connection. */
    private boolean bodyExpected;
    /** The request id the upstream gets when the client sent none: the same on every attempt. */
    private long requestIdHigh;
    private long requestIdLow;
    /**
     * The head of a response whose body is small, not written yet: the body, which nearly always comes in the same
     * read, is copied in after it, so that head and body go to the client as one buffer rather than two.
     */
    private ByteBuf heldHead;
    /** The upstream's body framing cannot be passed on: the body goes to the client in chunks of its own. */
    private boolean rechunk;
    /** The upstream cannot take more body: body chunks wait until it can. */
    private boolean bodyPaused;
    /** When {@link #bodyPaused} last became true: from then on a stalled upload is the upstream's doing. */
    private long bodyPausedNanos;
    private long bodyBytes;
    /**
     * The body kept for a retry, as it came; or, while a chunked body is collected, the one buffer it is copied
     * into (see {@link #keep}).
     */
    private ArrayDeque<HttpContent> replay;
    private int replayBytes;
    private boolean replayLost;
    private long lastUpstreamNanos;
    /** Since when the client has taken no more of the response and the upstream is not read for it; 0 if it has. */
    private long clientStalledNanos;
    /**
     * What the client has not taken yet of a response the upstream sends faster, while there is some: the body then
     * goes to the client through this file, and the upstream is read on (see {@link #startBuffering}).
     */
    private ResponseBuffer responseBuffer;
    /** The buffer holds {@code max-response-buffer} bytes the client has not taken: the upstream is not read. */
    private boolean bufferFull;
    /** When the client last took some of the buffered response. */
    private long bufferProgressNanos;
    /** The response went through the disk at some point (counted once per response). */
    private boolean responseBuffered;
    /**
     * What the buffer's file could not take (a full disk): it goes to the client once the file has, from memory,
     * while the upstream is not read; then the response goes on without a file, at the client's pace.
     */
    private CompositeByteBuf unbuffered;
    /** The file failed this response: no other is made for it. */
    private boolean bufferRefused;
    /**
     * The upstream has sent the whole response, its connection is back in the pool and the release has its answer
     * and no longer counts it in flight (a drain does not wait for it); the client is still taking the rest from
     * {@link #responseBuffer}, and the exchange ends when it has. The listener counts it meanwhile, for a stop.
     */
    private boolean upstreamDone;
    private long startNanos;
    /**
     * When the head of a response the upstream delimits itself (chunked, or until it closes) came, or 0: how long
     * such a body lasts is the app's choice (an event stream, a long-poll's updates), not its speed.
     */
    private long streamHeadNanos;
    private int responseStatus;

    ProxyHandler(Listener listener, StrictRequestDecoder decoder, ResponseEncoder encoder) {
        this.listener = listener;
        this.lc = listener.context();
        this.decoder = decoder;
        this.encoder = encoder;
    }

    // ---------------------------------------------------------------- client side

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.wire = ctx.pipeline().context(decoder);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        loopIndex = lc.loopIndex(ctx.channel().eventLoop());
        SocketAddress remote = ctx.channel().remoteAddress();
        if (remote instanceof InetSocketAddress) {
            java.net.InetAddress address = ((InetSocketAddress) remote).getAddress();
            // RFC 5952's form (::1), as nginx writes it: the app and its logs compare addresses as text.
            clientIp = NetUtil.toAddressString(address);
            clientAddress = address;
            trustedClient = lc.trustedProxies.contains(address);
            trustedFor = lc;
            addressBucket = Router.addressBucket(address);
        } else {
            clientIp = "127.0.0.1";
        }
        lc.clients.add(ctx.channel());
        idleSinceNanos = System.nanoTime();
        scheduleTick(Math.min(lc.clientIdleTimeoutNanos, lc.headerReadTimeoutNanos));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        inClientRead = false;
        flushUpstream();
        ctx.fireChannelReadComplete();
    }

    /** Flushes what was written to the upstream, unless a read batch is going on: then its end flushes once. */
    private void flushUpstreamSoon() {
        upstreamFlushPending = true;
        if (!inClientRead) {
            flushUpstream();
        }
    }

    private void flushUpstream() {
        if (upstreamFlushPending) {
            upstreamFlushPending = false;
            UpstreamConnection up = upstream;
            if (up != null) {
                up.channel().flush();
            }
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!inClientRead) {
            inClientRead = true;
            clientReadNanos = System.nanoTime();
        }
        if (lingering) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (tunnel) {
            relayToUpstream(msg);
        } else if (pending.isEmpty() && ready(msg)) {
            handle(msg);
        } else {
            pending.add(msg);
            ctx.channel().config().setAutoRead(false);
        }
    }

    /** Whether a message from the client can be handled now. */
    private boolean ready(Object msg) {
        if (!StrictRequestDecoder.isBodyPiece(msg) && msg instanceof HttpRequest) {
            return request == null && staticRequest == null;
        }
        // A body chunk: the current request's, once its upstream is there and can take it, or while it is being
        // collected; or the rest of a request already answered, which is dropped at once.
        return request == null || collecting || (upstream != null && !bodyPaused);
    }

    private void handle(Object msg) {
        if (StrictRequestDecoder.isBodyPiece(msg)) {
            onRequestContent((HttpContent) msg, false);
        } else if (msg instanceof HttpRequest) {
            anyRequest = true;
            onRequestHead((HttpRequest) msg);
            // After the head is routed: a stop waiting for this connection now waits for its request instead.
            leaveGrace();
        } else if (msg instanceof HttpContent) {
            onRequestContent((HttpContent) msg, msg instanceof LastHttpContent);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /** Handles what waited, in order, as far as possible; reading resumes once nothing waits. */
    private void drain() {
        if (draining) {
            return; // the loop below goes on with the new state
        }
        draining = true;
        try {
            Object msg;
            while ((msg = pending.peek()) != null && ready(msg) && !tunnel) {
                pending.poll();
                handle(msg);
            }
        } finally {
            draining = false;
        }
        // Closing (a stop, a client that asked for it) ends the connection after this exchange; the rest of this
        // request's body is still read, or a stop would hold the upload it lets finish.
        boolean bodyComing = request != null && !requestComplete;
        if (pending.isEmpty() && !bodyPaused && (!closing || bodyComing) && ctx.channel().isActive() && !tunnel) {
            ChannelConfig config = ctx.channel().config();
            if (!config.isAutoRead()) {
                if (request != null && !requestComplete) {
                    // A client that was not read could not send: its time to send the rest starts now.
                    lastClientNanos = System.nanoTime();
                }
                config.setAutoRead(true);
            }
            if (request == null && staticRequest == null && decoder.resume()) {
                decodeHeldBytes();
            }
        }
    }

    /**
     * Hands the decoder the bytes it held behind a request that asked for an upgrade (see StrictRequestDecoder),
     * now that the answer says what they are. They were read earlier, so nothing would decode them before the
     * client sends more: they go through the pipeline as a read of their own, from a task, so that the decoder is
     * never entered again from inside its own read.
     */
    private void decodeHeldBytes() {
        ctx.executor().execute(() -> {
            if (ctx.channel().isActive() && !lingering) {
                ChannelPipeline p = ctx.pipeline();
                p.fireChannelRead(Unpooled.EMPTY_BUFFER);
                p.fireChannelReadComplete();
            }
        });
    }

    private void releasePending() {
        Object msg;
        while ((msg = pending.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = ctx.channel().isWritable();
        if (tunnel) {
            if (upstream != null) {
                upstream.channel().config().setAutoRead(writable);
            }
        } else if (upstream != null && responseBuffer == null) {
            // The upstream is read only while the client can take what it sends, until what the client cannot take
            // yet goes to disk (see tick). Its silence meanwhile is the client's doing: the response timeout starts
            // again once the client takes more.
            upstream.channel().config().setAutoRead(writable);
            if (writable) {
                clientStalledNanos = 0;
                lastUpstreamNanos = System.nanoTime();
            } else if (clientStalledNanos == 0) {
                clientStalledNanos = System.nanoTime();
                scheduleTick(clientStalledNanos, mayBuffer() ? BUFFER_AFTER_NANOS : lc.clientIdleTimeoutNanos);
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == Listener.SHUTDOWN) {
            closing = true;
            // A static file being sent is in flight too: it gets drain.timeout to finish, as a response does.
            if (request == null && staticRequest == null && !tunnel) {
                if (anyRequest && decoder.headStartedNanos() == StrictRequestDecoder.NO_HEAD) {
                    // Idle between requests: closed now, as nginx does; a client whose next request crosses the
                    // close sends it again, as it does whenever a server closes a kept-alive connection.
                    ctx.close();
                } else {
                    awaitFirstRequest(ctx);
                }
            } else if (tunnel && framesFromUpstream != null) {
                // A WebSocket client told now can reconnect as soon as the proxy is back; the stop closes the rest.
                endTunnel();
            }
            return;
        }
        if (evt == Release.ENDING_TUNNEL) {
            if (tunnel && framesFromUpstream != null) {
                endTunnel();
            } else {
                ctx.close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * A stop came before this connection's first request, or in the middle of a head: a client that has just
     * connected is about to send one, and closing now, its bytes unread, would reset the connection and lose the
     * request, which a client does not send again on a new connection as it would on a kept-alive one. The request
     * is served, then the connection closes; one that does not come within a moment (a browser's preconnect) is not
     * waited for.
     */
    private void awaitFirstRequest(ChannelHandlerContext ctx) {
        inGrace = true;
        listener.awaitingFirstRequest(true);
        ctx.executor().schedule(() -> {
            if (inGrace) {
                ctx.close();
            }
        }, FIRST_REQUEST_GRACE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void leaveGrace() {
        if (inGrace) {
            inGrace = false;
            listener.awaitingFirstRequest(false);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        leaveGrace();
        releasePending();
        if (request != null) {
            if (listener.cuttingClients()) {
                logCutByStop();
            } else {
                countClientAbort();
            }
        }
        if (upstream != null) {
            UpstreamConnection up = upstream;
            upstream = null;
            if (request != null && !requestComplete) {
                // The client left in the middle of its body: a reset, so that the view does not take the part
                // that came for the whole upload.
                log.debug("client {} left after {} bytes of the body of {} {}", clientIp, bodyBytes,
                        request.method(), UpstreamFailureLog.pathOf(request.uri()));
                up.reset();
            } else {
                up.abandon();
            }
        }
        if (request != null) {
            endExchange();
        }
    }

    /**
     * This connection's request to {@code releaseName} that is still under way, or {@code null}: not a response the
     * release is done with that the client still takes from disk. On the channel's event loop only.
     */
    InFlightRequest inFlight(String releaseName, long nowNanos) {
        HttpRequest req = request != null ? request : staticRequest;
        return req != null && !upstreamDone && exchangeRelease().name().equals(releaseName)
                ? current(req, nowNanos) : null;
    }

    /** The release of the exchange under way: a proxied request's, or a static file's. */
    private Release exchangeRelease() {
        return request != null ? release : staticRelease;
    }

    /** The exchange under way, proxied or a static file: {@code req}. */
    private InFlightRequest current(HttpRequest req, long nowNanos) {
        int status = request != null && responseStarted ? responseStatus : 0;
        return new InFlightRequest(req.method().name(), UpstreamFailureLog.pathOf(req.uri()), clientForLog(req),
                Duration.ofNanos(nowNanos - startNanos), stage(), status, request == null);
    }

    /**
     * Where the exchange under way is from its client's side; a static file is always being received. A body-less
     * request's end waits among the pending messages until an upstream connection is there, so
     * {@code requestComplete} alone would call such a request still sending.
     */
    private ClientStage stage() {
        if (request == null || responseStarted) {
            return ClientStage.RECEIVING;
        }
        return requestComplete || !bodyExpected ? ClientStage.WAITING : ClientStage.SENDING;
    }

    /**
     * The client closed its connection (or stopped reading for client-idle-timeout) before its exchange ended. One
     * that gave up waiting for the response counts in the analysis window as a request as slow as its wait, not as
     * an error: a release slow enough to make users leave before response-timeout is then not judged on the
     * patient ones alone. One that left while receiving counts under the status it was getting (an error if a 5xx):
     * a stream with the time to its head, as a stream the upstream ended; anything else with no latency, since when
     * a download ends early is the client's choice. One that left in the middle of its own body, unanswered, was not
     * the release's doing.
     */
    private void countClientAbort() {
        ClientStage stage = stage();
        release.metrics().clientAborted(stage);
        if (upstreamDone) {
            // The release answered in full and was counted then; the client left while taking it from the buffer.
            return;
        }
        if (stage == ClientStage.RECEIVING) {
            if (streamHeadNanos != 0) {
                release.responded(responseStatus, streamHeadNanos - startNanos);
            } else {
                release.respondedUntimed(responseStatus);
            }
        } else if (stage == ClientStage.WAITING) {
            long waited = System.nanoTime() - startNanos;
            release.window().record(CLIENT_CLOSED, waited);
            log.debug("client {} left after waiting {} ms for {} {} (release {})", clientIp,
                    TimeUnit.NANOSECONDS.toMillis(waited), request.method(), UpstreamFailureLog.pathOf(request.uri()),
                    release.name());
        }
    }

    /**
     * The proxy's stop ran out of drain.timeout with this exchange under way: said, so that a user's report of a
     * cut download or a lost form can be matched with it.
     */
    private void logCutByStop() {
        HttpRequest req = request != null ? request : staticRequest;
        if (req == null) {
            return;
        }
        InFlightRequest cut = current(req, System.nanoTime());
        listener.failureLog().cut(req, cut.client(), exchangeRelease().name(), "the proxy stopped while its client was "
                + cut.stageText() + ", " + cut.age().toMillis() + " ms after the request came (drain.timeout ran out)");
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("client {} failed: {}", clientIp, cause.toString());
        ctx.close();
    }

    private void onRequestHead(HttpRequest req) {
        lc = listener.context();
        if (lc != trustedFor && clientAddress != null) {
            trustedClient = lc.trustedProxies.contains(clientAddress);
            trustedFor = lc;
        }
        lastClientNanos = System.nanoTime();
        startNanos = lastClientNanos;
        idleSinceNanos = 0;
        // Before any answer: the encoder still holds the previous request's, and a refusal of a GET after a HEAD
        // would go out without the body its Content-Length promises.
        headRequest = HttpMethod.HEAD.equals(req.method());
        encoder.headRequest(headRequest);
        DecoderResult result = req.decoderResult();
        if (result.isFailure() && result.cause() instanceof PrematureChannelClosureException) {
            // The connection closed in the middle of a head: a client that gave up (a page load cancelled, a
            // scanner), or one the header timeout cut off and counted. Nothing was refused; there is no one to tell.
            ReferenceCountUtil.release(req);
            return;
        }
        if (result.isFailure()) {
            ReferenceCountUtil.release(req);
            reject(statusFor(result.cause()), "malformed request: " + result.cause().getMessage());
            return;
        }
        HttpResponseStatus problem = RequestRules.check(req);
        if (problem != null) {
            reject(problem, "request refused: " + problem);
            return;
        }
        HttpHeaders h = req.headers();
        http10 = req.protocolVersion().equals(HttpVersion.HTTP_1_0);
        keepAlive = HttpUtil.isKeepAlive(req) && !closing;
        long contentLength = HttpUtil.getContentLength(req, -1L);
        boolean chunked = HttpUtil.isTransferEncodingChunked(req);
        bodyExpected = chunked || contentLength > 0;
        if (contentLength > lc.maxBodySize) {
            reject(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "body of " + contentLength + " bytes");
            return;
        }
        CharSequence expect = h.get(HttpHeaderNames.EXPECT);
        if (expect != null && !HttpHeaderValues.CONTINUE.contentEqualsIgnoreCase(expect)) {
            reject(HttpResponseStatus.EXPECTATION_FAILED, "unsupported Expect: " + expect);
            return;
        }
        expectContinue = expect != null && !http10;
        if (req.method() == HttpMethod.OPTIONS && h.contains(HttpHeaderNames.MAX_FORWARDS)) {
            // RFC 9110 7.6.2: an OPTIONS whose hops ran out is answered here; one with hops left goes on with one less.
            long hops = RequestRules.maxForwards(h);
            if (hops == 0) {
                log.debug("client {}: OPTIONS with Max-Forwards: 0 -> 200", clientIp);
                boolean close = answerCloses();
                answerAtOnce(ErrorResponses.optionsHere(close, http10), close);
                return;
            }
            if (hops > 0) {
                h.set(HttpHeaderNames.MAX_FORWARDS, Long.toString(hops - 1));
            }
        }
        upgradeRequested = RequestRules.asksUpgrade(req);
        idempotent = RequestRules.isIdempotent(req.method());
        freshConnection = !idempotent || contentLength > lc.replayLimit;

        // Only a trusted proxy in front can tell that the client came over TLS.
        secureClient = trustedClient && firstIsHttps(h.get(HeaderRewriter.X_FORWARDED_PROTO));
        RequestHeaders values = RequestHeaders.of(h);
        CharSequence cookies = values.first(HttpHeaderNames.COOKIE);
        CharSequence canaryHeader = lc.overrides ? values.first(Router.X_CANARY) : null;
        if (trustedClient) {
            routedHeaders = h;
            lc.router.route(cookies, canaryHeader, forwardedClient, decision);
            routedHeaders = null;
        } else {
            lc.router.route(cookies, canaryHeader, addressBucket, decision);
        }
        Release target = decision.release();
        StaticFiles files = lc.staticFiles.isEmpty() ? null : lc.staticFiles.get(target.name());
        if (files != null && files.matches(req.uri())) {
            serveStatic(files, req, target);
            return;
        }
        if (!target.hasEndpointToTry()) {
            String why = allEjected(target);
            target.metrics().error(UpstreamError.REFUSED_NO_ENDPOINT);
            target.responded(503, System.nanoTime() - startNanos);
            listener.failureLog().failed(503, req, clientForLog(req), target.name(), why);
            answerAtOnce(HttpResponseStatus.SERVICE_UNAVAILABLE, why, target);
            return;
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        requestIdHigh = random.nextLong();
        requestIdLow = random.nextLong();

        request = req;
        release = target;
        fallback = decision.fallback();
        release.requestStarted();
        sends = 0;
        connectRetries = 0;
        endpoint = null;
        if (failedOn != null) {
            failedOn.clear();
        }
        requestComplete = false;
        responseStarted = false;
        streamHeadNanos = 0;
        bodyBytes = 0;
        replayBytes = 0;
        replayLost = false;
        collectedLength = -1;
        if (chunked) {
            collecting = true;
            if (expectContinue) {
                // The body is wanted before any upstream is asked.
                expectContinue = false;
                ctx.writeAndFlush(ErrorResponses.continue100(), ctx.voidPromise());
            }
            return;
        }
        connect(freshConnection);
    }

    /** {@code https}, or a list whose first entry, the one the client's side wrote, is {@code https}. */
    private static boolean firstIsHttps(String proto) {
        if (proto == null) {
            return false;
        }
        int comma = proto.indexOf(',');
        return (comma < 0 ? proto : proto.substring(0, comma)).trim().equalsIgnoreCase("https");
    }

    /**
     * Answers from the release's static root, so that a page and its assets come from the same release. A body
     * sent with such a request is not read; the connection then closes after the answer.
     */
    private void serveStatic(StaticFiles files, HttpRequest req, Release target) {
        boolean keep = keepAlive && !bodyExpected && !listener.shuttingDown();
        if (!keep) {
            closing = true;
        }
        ChannelFuture served;
        if (staticProgress == null) {
            staticProgress = new ChannelProgressiveFutureListener() {
                @Override
                public void operationProgressed(ChannelProgressiveFuture f, long progress, long total) {
                    staticFromDisk = true;
                    staticProgressNanos = System.nanoTime();
                }

                @Override
                public void operationComplete(ChannelProgressiveFuture f) {
                }
            };
        }
        staticProgressNanos = System.nanoTime();
        staticFromDisk = false;
        try {
            served = files.serve(ctx, req, keep, staticProgress);
        } catch (RuntimeException e) {
            // Counted in flight only once it is served: a request left counted would keep its release from draining.
            log.warn("static file {} of release {}: {}", UpstreamFailureLog.pathOf(req.uri()), target.name(),
                    e.toString());
            log.debug("client {}: static file failed -> 500", clientIp);
            // A release's answer, as its 404s are: a tester reads which release's root failed.
            lingerAndClose(servedBy(ErrorResponses.closing(HttpResponseStatus.INTERNAL_SERVER_ERROR, headRequest),
                    target));
            return;
        }
        target.requestStarted();
        staticRequest = req;
        staticRelease = target;
        scheduleTick(staticProgressNanos, lc.clientIdleTimeoutNanos);
        served.addListener(f -> {
            if (!f.isSuccess() && listener.cuttingClients()) {
                // The close fails the file's write before the channel goes inactive: said here, while it is known.
                logCutByStop();
            }
            target.requestEnded();
            staticRequest = null;
            staticRelease = null;
            if (!f.isSuccess() || !keep || closing) {
                ctx.close();
            } else {
                idleSinceNanos = System.nanoTime();
                drain();
            }
        });
    }

    private void onRequestContent(HttpContent content, boolean last) {
        if (!last || content.content().isReadable()) {
            // The empty end of a body-less request comes with its head, whose time stands for it. A read of tiny
            // chunks brings thousands of pieces, and the time of the read stands for each of them.
            lastClientNanos = inClientRead ? clientReadNanos : System.nanoTime();
        }
        if (request == null) {
            // The end of a request already answered (static files, an early error, an upstream that answered
            // before the body was in): what is left of its body goes nowhere, and after its last part comes the
            // next request.
            content.release();
            if (last && decoder.resume()) {
                // It asked for an upgrade, and its answer came before its end (see StrictRequestDecoder#held).
                decodeHeldBytes();
            }
            return;
        }
        if (content.decoderResult().isFailure()) {
            content.release();
            abortRequest(HttpResponseStatus.BAD_REQUEST, "malformed body: " + content.decoderResult().cause());
            return;
        }
        int size = content.content().readableBytes();
        bodyBytes += size;
        if (bodyBytes > lc.maxBodySize) {
            content.release();
            abortRequest(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "body over " + lc.maxBodySize + " bytes");
            return;
        }
        if (collecting) {
            collect(content, size, last);
            return;
        }
        if (idempotent && !replayLost && !responseStarted
                && (content != LastHttpContent.EMPTY_LAST_CONTENT || replay != null && !replay.isEmpty())) {
            // The end of a body-less request needs no copy: a retry sends it anew (see onAcquired).
            keepForReplay(content, size);
        }
        if (last) {
            requestComplete = true;
            lastUpstreamNanos = lastClientNanos;
            scheduleTick(lastClientNanos, lc.responseTimeoutNanos);
        }
        UpstreamConnection up = upstream;
        if (up == null) {
            // Between two attempts: the body waits in the replay buffer, or the request cannot be retried.
            content.release();
            return;
        }
        writeBody(up.channel(), content);
        flushUpstreamSoon();
        if (!last && !up.channel().isWritable()) {
            pauseBody();
        }
    }

    /**
     * Writes a part of the request body to the upstream, and releases it. A body comes here as it came from the
     * client: a chunked one is collected first and goes with its length, so nothing is chunked again.
     */
    private static void writeBody(Channel up, HttpContent content) {
        ByteBuf data = content.content();
        if (data.isReadable()) {
            up.write(data, up.voidPromise());
        } else {
            content.release();
        }
    }

    /**
     * Keeps a piece of a chunked body being collected: in memory up to the replay limit, then in a file. Once the
     * body is whole the request goes upstream, with its length; {@link #onAcquired} writes what was kept. Trailer
     * fields are dropped, as nginx drops them: a body with a length has no place for them.
     */
    private void collect(HttpContent content, int size, boolean last) {
        try {
            keep(content.content(), size, last);
        } catch (IOException e) {
            String why = "cannot keep the request body in " + lc.bodyTempDir + ": " + IoFailures.describe(e);
            lc.clientMetrics.rejected(500);
            listener.failureLog().failed(500, request, clientForLog(request), release.name(), why);
            abortRequest(HttpResponseStatus.INTERNAL_SERVER_ERROR, why);
            return;
        } finally {
            content.release();
        }
        if (last) {
            collecting = false;
            collectedLength = bodyBytes;
            requestComplete = true;
            lastUpstreamNanos = lastClientNanos;
            scheduleTick(lastClientNanos, lc.responseTimeoutNanos);
            connect(freshConnection);
        }
    }

    /**
     * Copies a piece of a collected body into a buffer of the proxy's own (the one entry of {@link #replay}), or
     * into the spool once the body outgrows the replay limit. A piece is never kept itself: a client may send its
     * body as one-byte chunks, and a message and a slice of a read buffer held per byte would cost dozens of times
     * the body, and keep every read buffer they point into from going back to the pool.
     */
    private void keep(ByteBuf data, int size, boolean last) throws IOException {
        if (spool == null && replayBytes + size > lc.replayLimit) {
            spool = BodySpool.create(lc.bodyTempDir, ctx.alloc());
            HttpContent kept;
            while (replay != null && (kept = replay.poll()) != null) {
                try {
                    spool.append(kept.content());
                } finally {
                    kept.release();
                }
            }
            replayBytes = 0;
        }
        if (spool != null) {
            spool.append(data);
            if (last) {
                spool.finish();
            }
        } else if (size > 0) {
            if (replay == null) {
                replay = new ArrayDeque<>(4);
            }
            HttpContent kept = replay.peekLast();
            if (kept == null) {
                // Grown as the body comes, up to the limit: most collected bodies are small forms.
                kept = new DefaultHttpContent(ctx.alloc().buffer(Math.max(size, 1024), lc.replayLimit));
                replay.add(kept);
            }
            kept.content().writeBytes(data, data.readerIndex(), size);
            replayBytes += size;
        }
    }

    /** The upstream's buffer is full: stop reading the client until it drains (see writability). */
    private void pauseBody() {
        bodyPaused = true;
        bodyPausedNanos = System.nanoTime();
        ctx.channel().config().setAutoRead(false);
        scheduleTick(bodyPausedNanos, lc.responseTimeoutNanos);
    }

    private void keepForReplay(HttpContent content, int size) {
        if (replayBytes + size > lc.replayLimit) {
            releaseReplay();
            replayLost = true;
            return;
        }
        if (replay == null) {
            replay = new ArrayDeque<>(4);
        }
        replay.add(content.retainedDuplicate());
        replayBytes += size;
    }

    private void releaseReplay() {
        if (replay != null) {
            HttpContent c;
            while ((c = replay.poll()) != null) {
                c.release();
            }
        }
        replayBytes = 0;
    }

    // ---------------------------------------------------------------- upstream side

    private void connect(boolean fresh) {
        toCurrentGeneration();
        connect(release.pick(loopIndex, endpoint, failedOn), fresh);
    }

    /**
     * If a reload replaced the release since this request was routed, and it needs a connection (its chunked body
     * is collected, or it is sent again), it goes to the release's endpoints as they are now. The old ones are not
     * listed once nothing is connected to them, and a deploy script may stop them then.
     *
     * @return whether the request moved to the release's current generation
     */
    private boolean toCurrentGeneration() {
        Release now = currentGeneration(release);
        if (now == release) {
            return false;
        }
        release.requestEnded();
        now.requestStarted();
        release = now;
        // An address the reload kept is the same gunicorn: one that dropped this request is still not tried.
        endpoint = sameIn(now, endpoint);
        if (failedOn != null) {
            List<Endpoint> before = new ArrayList<>(failedOn);
            failedOn.clear();
            for (Endpoint e : before) {
                Endpoint kept = sameIn(now, e);
                if (kept != null) {
                    failedOn.add(kept);
                }
            }
        }
        return true;
    }

    /** {@code r} as the route table resolves it now: its new generation, if a reload replaced it. */
    private Release currentGeneration(Release r) {
        if (!r.isRetired()) {
            return r;
        }
        Release now = listener.context().router.release(r.name());
        return now != null ? now : r;
    }

    private static Endpoint sameIn(Release r, Endpoint e) {
        if (e != null) {
            for (Endpoint candidate : r.endpoints()) {
                if (candidate.address().equals(e.address())) {
                    return candidate;
                }
            }
        }
        return null;
    }

    private void connect(Endpoint next, boolean fresh) {
        if (next == null) {
            if (rerouted()) {
                return;
            }
            fail(HttpResponseStatus.SERVICE_UNAVAILABLE, UpstreamError.REFUSED_NO_ENDPOINT, allEjected(release));
            return;
        }
        endpoint = next;
        EndpointPool pool = next.pool(loopIndex);
        pool.acquire(this, ++ticket, fresh);
    }

    /** Why a release has no endpoint to try, each endpoint's reason included: the log line is all an operator sees. */
    private static String allEjected(Release r) {
        StringBuilder why = new StringBuilder("every endpoint of release ").append(r.name())
                .append(" is ejected after failed connects");
        char open = '(';
        for (Endpoint e : r.endpoints()) {
            String problem = e.problem();
            if (problem != null) {
                why.append(open == '(' ? " (" : "; ").append(e.address()).append(": ").append(problem);
                open = ';';
            }
        }
        return open == '(' ? why.toString() : why.append(')').toString();
    }

    /**
     * A request the weight sent to the canary that reached none of its endpoints goes to the stable release:
     * nothing of it was sent, or it is idempotent and was dropped unanswered, so it may go anywhere (RFC 9110
     * 9.2.2), and a user should not see a canary that just died while stable is there. Counted as a connect
     * failure of the canary; its sends so far still count against max-retries.
     */
    private boolean rerouted() {
        Release to = fallback;
        fallback = null;
        if (to != null) {
            // Reloaded since the request was routed: judged, and sent to, as it is now.
            to = currentGeneration(to);
        }
        if (to == null || to == release || !to.hasEndpointToTry()) {
            return false;
        }
        release.metrics().error(UpstreamError.CONNECT);
        // The stable release serves it, but the canary failed it: a canary that cannot take its share of the
        // users (its listen queue full, say) is judged on the requests it refused too, as the stable release is on
        // its 502s.
        release.window().recordUntimed(HttpResponseStatus.BAD_GATEWAY.code());
        release.requestEnded();
        release = to;
        release.requestStarted();
        endpoint = null;
        if (failedOn != null) {
            failedOn.clear();
        }
        connect(freshConnection);
        return true;
    }

    @Override
    public boolean isWaitingFor(int ticket) {
        return ticket == this.ticket && request != null;
    }

    @Override
    public void onAcquired(UpstreamConnection connection, int ticket) {
        if (!isWaitingFor(ticket)) {
            connection.release(true);
            return;
        }
        upstream = connection;
        if (!connection.reused()) {
            sends++;
        }
        Channel up = connection.channel();
        connection.expectResponseTo(headRequest);
        ByteBuf head = up.alloc().buffer(HeaderRewriter.estimateSize(request));
        HeaderRewriter.writeRequestHead(head, request, clientIp, trustedClient, upgradeRequested, release.name(),
                requestIdHigh, requestIdLow, collectedLength);
        up.write(head, up.voidPromise());
        if (spool != null) {
            writeSpool(connection);
        } else if (replay != null && !replay.isEmpty()) {
            for (HttpContent c : replay) {
                writeBody(up, c.retainedDuplicate());
            }
        } else if (requestComplete && bodyBytes == 0) {
            writeBody(up, LastHttpContent.EMPTY_LAST_CONTENT);
        }
        flushUpstreamSoon();
        if (requestComplete) {
            // A retry: the response timeout starts again. (A first attempt starts it when the request is complete.)
            lastUpstreamNanos = System.nanoTime();
        }
        if (expectContinue && !requestComplete) {
            expectContinue = false;
            ctx.writeAndFlush(ErrorResponses.continue100(), ctx.voidPromise());
        }
        // Read the response only while the client can take it.
        boolean clientWritable = ctx.channel().isWritable();
        up.config().setAutoRead(clientWritable);
        if (!clientWritable && clientStalledNanos == 0) {
            clientStalledNanos = System.nanoTime();
        }
        if (!requestComplete) {
            if (up.isWritable()) {
                // A pause for a connection that closed before it drained: no writability change will lift it.
                bodyPaused = false;
                drain();
            } else {
                pauseBody();
            }
        }
    }

    /**
     * Writes the spooled body, in regions small enough for io_uring's splice (which counts in ints). Progress
     * counts as the upstream being alive for the response timeout: an upstream still reading a large body is not
     * silent.
     */
    private void writeSpool(UpstreamConnection connection) {
        Channel up = connection.channel();
        spoolWriteOn = connection;
        long length = spool.length();
        for (long at = 0; at < length; at += SPOOL_REGION_MAX) {
            long count = Math.min(SPOOL_REGION_MAX, length - at);
            boolean last = at + count == length;
            ChannelProgressivePromise sent = up.newProgressivePromise();
            sent.addListener(new ChannelProgressiveFutureListener() {
                @Override
                public void operationProgressed(ChannelProgressiveFuture f, long progress, long total) {
                    if (upstream == connection) {
                        lastUpstreamNanos = System.nanoTime();
                    }
                }

                @Override
                public void operationComplete(ChannelProgressiveFuture f) {
                    if (last && spoolWriteOn == connection) {
                        spoolWriteOn = null;
                        if (upstream == connection) {
                            lastUpstreamNanos = System.nanoTime();
                        }
                    }
                }
            });
            up.write(spool.region(at, count), sent);
        }
    }

    @Override
    public void onAcquireFailed(int ticket, Throwable cause, boolean connectFailed) {
        if (!isWaitingFor(ticket)) {
            return;
        }
        Endpoint next;
        Endpoint failed = endpoint;
        if (cause instanceof EndpointPool.ExhaustedException) {
            fail(HttpResponseStatus.SERVICE_UNAVAILABLE, UpstreamError.POOL_FULL, cause.getMessage());
        } else if (connectFailed && IoFailures.isOutOfDescriptors(cause)) {
            // Not the endpoint's fault, and every other endpoint would fail alike until connections close.
            fail(HttpResponseStatus.SERVICE_UNAVAILABLE, null, "cannot connect to " + failed + ": "
                    + Descriptors.shortage());
        } else if (connectFailed && (next = nextAfterConnectFailure(cause)) != null) {
            log.debug("connect to {} failed ({}), trying {}", failed, cause.toString(), next);
            release.metrics().error(UpstreamError.CONNECT);
            release.metrics().retry();
            connect(next, true);
        } else if (connectFailed && rerouted()) {
            log.debug("no endpoint of the canary {} could be reached ({}); the stable release takes the request",
                    failed, cause.toString());
        } else {
            fail(HttpResponseStatus.BAD_GATEWAY, UpstreamError.CONNECT, "connect to " + failed + " failed: "
                    + IoFailures.describeConnect(cause));
        }
    }

    @Override
    public void onResponseHead(UpstreamConnection connection, ResponseHead head) {
        if (connection != upstream || request == null || responseStarted) {
            return;
        }
        int code = head.status();
        if (code == 101) {
            if (upgradeRequested) {
                startTunnel(head);
            } else {
                upstream = null;
                connection.abandon();
                fail(HttpResponseStatus.BAD_GATEWAY, UpstreamError.MALFORMED, "unrequested protocol switch from " + endpoint);
            }
            return;
        }
        if (code < 200) {
            // Interim responses (100 Continue, 103) are not relayed: the proxy answered Expect itself.
            return;
        }
        responseStarted = true;
        responseStatus = code;
        responseBuffered = false;
        bufferRefused = false;
        releaseReplay();
        // Not after a HEAD, a 204 or a 304: gunicorn (20.1) sends the body Django gave such a response (a
        // StreamingHttpResponse answering a HEAD, JsonResponse({}, status=204)) after the head, and bytes that
        // arrive once the connection is back in the pool would be read as the next request's response.
        upstreamReusable = head.keepAlive() && !headRequest && code != 204 && code != 304;
        ResponseHead.Framing framing = head.framing();
        boolean delimitedByUpstream = framing == ResponseHead.Framing.CHUNKED
                || framing == ResponseHead.Framing.UNTIL_CLOSE;
        if (delimitedByUpstream && http10) {
            // An HTTP/1.0 client cannot read chunked encoding: it gets the body raw, and the close ends it.
            closing = true;
        }
        rechunk = delimitedByUpstream && !http10;
        streamHeadNanos = delimitedByUpstream ? Math.max(1, System.nanoTime()) : 0;
        if (!requestComplete) {
            // Answered before the whole body arrived (a 404 or a 403 to an upload, say): the upstream connection
            // still expects the rest, so it is not reused. The client's connection is: the rest of the body is
            // read and dropped once the response is out (see onRequestContent), as nginx does. Closing with
            // unread bytes would reset the connection, and the client could lose the response to the reset.
            upstreamReusable = false;
        }
        if (closing || !keepAlive || listener.shuttingDown()) {
            closing = true;
        }
        boolean holdHead = framing == ResponseHead.Framing.LENGTH && !rechunk
                && head.contentLength() <= SMALL_BODY;
        ByteBuf out = ctx.alloc().buffer(head.size() + 128 + (holdHead ? (int) head.contentLength() : 0));
        // RFC 9110 8.6, 6.1: a 204 carries no Content-Length or Transfer-Encoding, whatever the upstream sent.
        // RFC 9112 6.1: no Transfer-Encoding to an HTTP/1.0 client, not even in the answer to its HEAD.
        boolean dropFraming = http10 && (delimitedByUpstream || headRequest) || code == 204;
        ResponseHeadWriter.write(out, head, dropFraming,
                rechunk && framing == ResponseHead.Framing.UNTIL_CLOSE, closing, http10, lc.servedByHeader);
        if (decision.setBucketCookie()) {
            ResponseHeadWriter.setCookie(out, lc.bucketCookiePrefix, decision.bucket(), lc.bucketCookieAttributes,
                    secureClient);
        }
        if (lc.servedByHeader) {
            ResponseHeadWriter.servedBy(out, release.name());
        }
        ResponseHeadWriter.end(out);
        if (holdHead) {
            heldHead = out;
        } else {
            wire.write(out, wire.voidPromise());
        }
    }

    /** Writes the response head held for its small body (see {@link #heldHead}), if it is still held. */
    private void writeHeldHead() {
        ByteBuf h = heldHead;
        if (h != null) {
            heldHead = null;
            wire.write(h, wire.voidPromise());
        }
    }

    @Override
    public void onResponseBody(UpstreamConnection connection, ByteBuf data, int index, int length) {
        if (connection != upstream) {
            return;
        }
        if (tunnel) {
            relayToClient(data, index, length);
        } else if (!responseStarted || request == null) {
            // The body of a response already given up on.
            return;
        } else if (rechunk) {
            if (length == 0) {
                return; // an empty chunk would end the body
            }
            toClient(Chunks.size(ctx.alloc(), length));
            toClient(data, index, length);
            toClient(Chunks.crlf());
        } else if (responseBuffer != null) {
            writeHeldHead();
            toClient(data, index, length);
        } else if (heldHead != null && length <= heldHead.writableBytes()) {
            data.getBytes(index, heldHead, length); // this way round the copy needs no temporary buffer
        } else {
            writeHeldHead();
            wire.write(data.retainedSlice(index, length), wire.voidPromise());
        }
    }

    @Override
    public void onResponseEnd(UpstreamConnection connection, ByteBuf trailers) {
        if (connection != upstream || !responseStarted || request == null) {
            ReferenceCountUtil.release(trailers);
            return;
        }
        if (rechunk) {
            toClient(Chunks.last(ctx.alloc(), trailers));
        }
        ReferenceCountUtil.release(trailers);
        if (request != null) {
            finishResponse(); // unless a buffer that could not be written broke the response
        }
    }

    @Override
    public void onResponseMalformed(UpstreamConnection connection, String reason) {
        if (connection != upstream) {
            return;
        }
        upstream = null;
        connection.abandon();
        fail(HttpResponseStatus.BAD_GATEWAY, UpstreamError.MALFORMED, "malformed response from " + endpoint + ": "
                + reason);
    }

    @Override
    public void onUpstreamReadComplete(UpstreamConnection connection) {
        if (connection != upstream) {
            return;
        }
        // Once per read batch rather than per message: what the response timeout needs is that the upstream
        // is still sending.
        lastUpstreamNanos = System.nanoTime();
        writeHeldHead();
        ctx.flush();
        if (responseBuffer != null) {
            sendBuffered();
            if (responseBuffer != null && responseBuffer.unsent() >= lc.maxResponseBuffer) {
                bufferFull = true;
                connection.channel().config().setAutoRead(false);
            }
        }
    }

    /**
     * A piece of the response for the client: written to it, or appended to the buffer while the response goes
     * through one (in order: once a byte is there, every later one must be too). Takes {@code piece} over.
     */
    private void toClient(ByteBuf piece) {
        if (responseBuffer == null) {
            wire.write(piece, wire.voidPromise());
            return;
        }
        try {
            toClient(piece, piece.readerIndex(), piece.readableBytes());
        } finally {
            piece.release();
        }
    }

    /** {@link #toClient(ByteBuf)} for {@code length} bytes of {@code data} from {@code index}; {@code data} stays. */
    private void toClient(ByteBuf data, int index, int length) {
        ResponseBuffer b = responseBuffer;
        if (b == null) {
            wire.write(data.retainedSlice(index, length), wire.voidPromise());
            return;
        }
        if (unbuffered == null) {
            try {
                b.append(data, index, length);
                return;
            } catch (IOException e) {
                spillRefused(e);
            }
        }
        unbuffered.addComponent(true, data.retainedSlice(index, length));
    }

    /**
     * The buffer's file takes no more (the disk is full): the client gets what it holds, then what it could not take
     * from memory, and the upstream is not read meanwhile. Then the response goes on as without a file, the
     * upstream read as fast as the client reads, as when no file can be made.
     */
    private void spillRefused(IOException e) {
        ResponseBuffer.cannotOpen(lc.bodyTempDir, e);
        bufferRefused = true;
        unbuffered = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
        unbuffered.addComponent(true, responseBuffer.takeUnwritten());
        bufferFull = true; // the upstream's silence is the proxy's doing: no response timeout
        if (upstream != null) {
            upstream.channel().config().setAutoRead(false);
        }
    }

    /** The response file could not be read {@code doing} in the temp dir: said, and the response cut. */
    private void bufferFailed(String doing, IOException e) {
        String why = doing + lc.bodyTempDir + ": " + IoFailures.describe(e);
        log.warn("{} {} (release {}): {}; the response is cut", request.method(),
                UpstreamFailureLog.pathOf(request.uri()), release.name(), why);
        breakResponse(why, null);
    }

    /**
     * The client is slower than the upstream: the rest of the response goes through a file, so that the upstream's
     * worker is free once it has sent it all rather than once the client has taken it. Not for a request whose body
     * is still coming (an early answer: the client may not read before it has sent it all), and not when the
     * file cannot be made (then the upstream waits for the client, as without a buffer).
     */
    private boolean startBuffering() {
        if (!mayBuffer()) {
            return false;
        }
        try {
            responseBuffer = ResponseBuffer.open(lc.bodyTempDir, ctx.alloc());
        } catch (IOException e) {
            ResponseBuffer.cannotOpen(lc.bodyTempDir, e);
            return false;
        }
        if (!responseBuffered) {
            responseBuffered = true;
            release.metrics().responseBuffered();
        }
        bufferFull = false;
        bufferProgressNanos = System.nanoTime();
        scheduleTick(bufferProgressNanos, lc.clientIdleTimeoutNanos);
        return true;
    }

    /** Whether what the client cannot take yet of the response under way may go to disk (see startBuffering). */
    private boolean mayBuffer() {
        return lc.maxResponseBuffer > 0 && request != null && responseStarted && requestComplete && !upstreamDone
                && !bufferRefused;
    }

    /**
     * Sends the client the next part of the buffered response, one region at a time; each one out is progress, and
     * makes room for the upstream again. Once the client has all of it: the exchange ends if the upstream had
     * ended it, and otherwise, with a client that keeps up again, the response goes on without the file.
     */
    private void sendBuffered() {
        ResponseBuffer b = responseBuffer;
        FileRegion region;
        try {
            region = b.nextRegion();
        } catch (IOException e) {
            if (unbuffered != null) {
                bufferFailed("cannot read the response for a slow client back from ", e);
                return;
            }
            // What was staged could not be written: the file is sent as far as it goes, the rest from memory.
            spillRefused(e);
            sendBuffered();
            return;
        }
        if (region != null) {
            ChannelProgressivePromise sent = ctx.newProgressivePromise();
            sent.addListener(new ChannelProgressiveFutureListener() {
                @Override
                public void operationProgressed(ChannelProgressiveFuture f, long progress, long total) {
                    if (responseBuffer == b) {
                        bufferProgressNanos = System.nanoTime();
                    }
                }

                @Override
                public void operationComplete(ChannelProgressiveFuture f) {
                    if (f.isSuccess() && responseBuffer == b) {
                        bufferProgressNanos = System.nanoTime();
                        b.regionSent();
                        if (bufferFull && b.unsent() < lc.maxResponseBuffer && unbuffered == null) {
                            bufferFull = false;
                            if (upstream != null) {
                                upstream.channel().config().setAutoRead(true);
                                lastUpstreamNanos = bufferProgressNanos;
                            }
                        }
                        sendBuffered();
                    }
                }
            });
            wire.writeAndFlush(region, sent);
            return;
        }
        if (b.unsent() != 0) {
            return; // a region is still going out
        }
        if (unbuffered != null) {
            ByteBuf rest = unbuffered;
            unbuffered = null;
            stopBuffering();
            wire.writeAndFlush(rest, wire.voidPromise());
            if (upstreamDone) {
                finishExchange(System.nanoTime());
            } else if (upstream != null) {
                // From here as without a file: the upstream is read while the client can take more.
                long now = System.nanoTime();
                lastUpstreamNanos = now;
                boolean writable = ctx.channel().isWritable();
                upstream.channel().config().setAutoRead(writable);
                if (!writable) {
                    clientStalledNanos = now;
                    scheduleTick(now, lc.clientIdleTimeoutNanos);
                }
            }
            return;
        }
        if (upstreamDone) {
            finishExchange(System.nanoTime());
        } else if (ctx.channel().isWritable()) {
            stopBuffering();
        }
    }

    /** Lets go of the response buffer, which the client has taken all of or will take no more of. */
    private void stopBuffering() {
        if (unbuffered != null) {
            unbuffered.release();
            unbuffered = null;
        }
        ResponseBuffer b = responseBuffer;
        if (b != null) {
            responseBuffer = null;
            bufferFull = false;
            if (release != null) {
                release.metrics().responseBufferedBytes(b.length());
            }
            b.release();
        }
    }

    @Override
    public void onUpstreamWritabilityChanged(UpstreamConnection connection) {
        if (connection != upstream) {
            return;
        }
        boolean writable = connection.channel().isWritable();
        if (tunnel) {
            ctx.channel().config().setAutoRead(writable);
        } else if (writable && bodyPaused) {
            bodyPaused = false;
            drain();
        }
    }

    @Override
    public void onUpstreamClosed(UpstreamConnection connection, Throwable cause) {
        if (connection != upstream) {
            return;
        }
        upstream = null;
        if (tunnel) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        if (request == null) {
            return;
        }
        String why = cause == null ? "connection closed" : IoFailures.describe(cause);
        if (responseStarted) {
            breakResponse("upstream " + endpoint + " broke off the response: " + why, UpstreamError.RESET);
            return;
        }
        boolean mayRetry = idempotent && !replayLost && sends <= lc.maxRetries;
        if (!mayRetry || !retried(connection, why)) {
            fail(HttpResponseStatus.BAD_GATEWAY, UpstreamError.RESET,
                    "upstream " + endpoint + " closed without a response: " + why);
        }
    }

    /**
     * Sends a request that got no response byte again, if that cannot repeat what the upstream did with it. On a
     * kept-alive connection it may have met the upstream closing that connection as idle, which says nothing of the
     * endpoint: it goes to the same one again, on a new connection (not to another that may be down or failing its
     * checks). On a new connection the endpoint took it and then closed: the worker crashed on it or gunicorn's
     * --timeout killed it, and sending it there again would take one more worker and make the client wait one more
     * timeout; it goes only to an endpoint it has not failed on yet, as nginx tries each server of a group once.
     */
    private boolean retried(UpstreamConnection connection, String why) {
        Endpoint failed = endpoint;
        Endpoint next;
        if (connection.reused()) {
            // The same gunicorn, in the release as it is now: a reload may have taken this endpoint out since.
            toCurrentGeneration();
            next = endpoint != null ? endpoint : release.pick(loopIndex, null, failedOn);
        } else {
            next = nextAfterFailureOf(endpoint);
        }
        if (next == null) {
            return false;
        }
        if (connection.reused()) {
            log.debug("{} {} got no response from {} on a kept-alive connection ({}), sending it again",
                    request.method(), UpstreamFailureLog.pathOf(request.uri()), failed, why);
        } else {
            listener.failureLog().sentOn(request, clientForLog(request), release.name(),
                    "upstream " + failed + " closed without a response: " + why + "; sent to " + next);
            // Counted as the failure log tells it: a worker that crashes on every request shows in the errors,
            // though another endpoint answered each of them.
            release.metrics().error(UpstreamError.RESET);
        }
        release.metrics().retry();
        connect(next, true);
        return true;
    }

    /**
     * Where a request goes after a failed connect; nothing was sent, so any method may go on. A refused connect or
     * a missing socket file fails the same way a moment later, and a second connect timeout doubles the wait: the
     * request goes to an endpoint it has not failed on. Anything else (a Unix socket's full backlog, a connect cut
     * short while gunicorn replaces its workers) is a moment, not the endpoint: the request may go to the same one
     * again, if no other is left, at most max-retries times.
     */
    private Endpoint nextAfterConnectFailure(Throwable cause) {
        if (IoFailures.isRefused(cause) || cause instanceof ConnectTimeoutException
                || connectRetries >= lc.maxRetries) {
            return nextAfterFailureOf(endpoint);
        }
        connectRetries++;
        toCurrentGeneration();
        Endpoint other = release.pick(loopIndex, endpoint, failedOn);
        return other != null ? other : endpoint;
    }

    /** Marks the request as failed on {@code failed}; the endpoint to try next, {@code null} when none is left. */
    private Endpoint nextAfterFailureOf(Endpoint failed) {
        if (failedOn == null) {
            failedOn = new ArrayList<>(2);
        }
        failedOn.add(failed);
        if (toCurrentGeneration()) {
            failed = endpoint;
        }
        return release.pick(loopIndex, failed, failedOn);
    }

    // ---------------------------------------------------------------- endings

    /**
     * How long the release took over this response: until its last byte, but for a stream until its head. Timed to
     * the end, one event stream in a hundred requests would be the release's p99, and a canary identical to stable
     * would be rolled back, or a slow one hidden, by whichever side had more streams end in the window.
     */
    private long latencyNanos(long now) {
        return (streamHeadNanos != 0 ? streamHeadNanos : now) - startNanos;
    }

    private void finishResponse() {
        writeHeldHead();
        UpstreamConnection up = upstream;
        upstream = null;
        boolean reusable = upstreamReusable && requestComplete && spoolWriteOn != up;
        if (up != null) {
            up.release(reusable);
        }
        long now = System.nanoTime();
        release.responded(responseStatus, latencyNanos(now));
        if (responseBuffer != null) {
            // The release is done with it; the client still takes the rest from the buffer.
            upstreamDone = true;
            release.requestEnded();
            listener.bufferedTail(true);
            sendBuffered();
            return;
        }
        finishExchange(now);
    }

    /** The client has the whole response: the exchange ends, and the connection goes on to the next request. */
    private void finishExchange(long now) {
        boolean bodyStillComing = !requestComplete;
        endExchange();
        if (closing && bodyStillComing) {
            // Answered before the upload ended, on a connection that closes: see lingerAndClose.
            lingerAndClose(Unpooled.EMPTY_BUFFER);
        } else if (closing) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.flush();
            idleSinceNanos = now;
            drain();
        }
    }

    /**
     * Answers the current exchange with a proxy error, or closes the connection if the response has begun. The
     * failure counts as an upstream error of {@code kind} and in the release's analysis window; or, {@code null},
     * as the proxy's own, in neither.
     */
    private void fail(HttpResponseStatus status, UpstreamError kind, String why) {
        if (!responseStarted) {
            listener.failureLog().failed(status.code(), request, clientForLog(request),
                    release == null ? "-" : release.name(), why);
        }
        if (upstream != null) {
            UpstreamConnection up = upstream;
            upstream = null;
            up.abandon();
        }
        if (responseStarted) {
            breakResponse(why + ", after the response had begun", kind);
            return;
        }
        // Unread body bytes could not be told apart from the next request; a body-less request's end is only its
        // head, so a failure that came before the decoder passed that end on need not cost the connection.
        boolean bodyStillComing = !requestComplete && bodyExpected;
        boolean close = closing || !keepAlive || bodyStillComing || listener.shuttingDown();
        boolean head = headRequest;
        // The release the answer counts under: a tester reading it sees which release failed.
        Release answeredFor = release;
        if (release != null) {
            long nanos = System.nanoTime() - startNanos;
            if (kind != null) {
                release.metrics().error(kind);
                release.responded(status.code(), nanos);
            } else {
                release.respondedForTheProxy(status.code(), nanos);
            }
        }
        endExchange();
        FullHttpResponse response = servedBy(ErrorResponses.of(status, close, head, http10), answeredFor);
        if (bodyStillComing) {
            // The client may still be sending: closing at once could reset the connection before it reads this.
            lingerAndClose(response);
        } else if (close) {
            closing = true;
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.writeAndFlush(response, ctx.voidPromise());
            idleSinceNanos = System.nanoTime();
            drain();
        }
    }

    /** Behind a trusted proxy, the client it forwards for: the log line is of no use if it names the balancer. */
    private String clientForLog(HttpRequest req) {
        return trustedClient && req != null
                ? ForwardedClient.describe(req.headers(), lc.trustedProxies, clientIp) : clientIp;
    }

    /**
     * A response that has begun cannot be finished: closing is the only honest signal left. It counts under the
     * status it began with and as an upstream error of {@code kind} (or {@code null}: the client's doing, not the
     * upstream's), and as an error in the analysis window, which the status alone would not show.
     */
    private void breakResponse(String why, UpstreamError kind) {
        if (kind != null && request != null) {
            listener.failureLog().failed(responseStatus, request, clientForLog(request), release.name(), why);
        } else {
            log.debug("response broken: {}", why);
        }
        writeHeldHead(); // what came of the response goes out; the close then tells the client the rest is lost
        if (upstream != null) {
            UpstreamConnection up = upstream;
            upstream = null;
            up.abandon();
        }
        if (request != null) {
            if (kind != null) {
                release.metrics().error(kind);
            }
            if (!upstreamDone) { // else the release's answer was counted when it ended
                release.responded(responseStatus, latencyNanos(System.nanoTime()));
            }
            if (kind != null && responseStatus < 500) {
                release.window().broken();
            }
            endExchange();
        }
        closing = true;
        ctx.flush();
        ctx.close();
    }

    /**
     * The client sent something the proxy will not forward: answer and close; nothing reached an upstream. The
     * close lingers ({@link #lingerAndClose}): the client may still be sending, a body too large, say.
     */
    private void reject(HttpResponseStatus status, String why) {
        log.debug("client {}: {} -> {}", clientIp, why, status.code());
        int code = status.code();
        if (code < 500 || code == 501 || code == 505) {
            // The client's doing (CONNECT, HTTP/2.0 in a request line); any other 5xx here was counted as its
            // release's answer.
            lc.clientMetrics.rejected(code);
        }
        lingerAndClose(ErrorResponses.closing(status, headRequest));
    }

    /**
     * Writes {@code last} and closes the connection gracefully while the client may still be sending: the proxy
     * stops writing, drops whatever still comes for up to {@value #LINGER_MILLIS} ms, and then closes. Closing at
     * once with unread bytes would reset the connection, which can destroy the answer before the client reads it.
     */
    private void lingerAndClose(Object last) {
        closing = true;
        lingering = true;
        releasePending();
        decoder.discardRest();
        ctx.channel().config().setAutoRead(true);
        ctx.writeAndFlush(last).addListener(f -> {
            if (f.isSuccess() && ctx.channel() instanceof DuplexChannel) {
                ((DuplexChannel) ctx.channel()).shutdownOutput();
                ctx.executor().schedule(() -> {
                    ctx.close();
                }, LINGER_MILLIS, TimeUnit.MILLISECONDS);
            } else {
                ctx.close();
            }
        });
    }

    /**
     * Answers a sound request that no upstream will see. Without a body to read past, the connection stays open:
     * during an outage every keep-alive client would otherwise reconnect for each request. With one, the answer
     * closes the connection as {@link #reject} does.
     */
    private void answerAtOnce(HttpResponseStatus status, String why, Release forRelease) {
        log.debug("client {}: {} -> {}", clientIp, why, status.code());
        boolean close = answerCloses();
        answerAtOnce(servedBy(ErrorResponses.of(status, close, headRequest, http10), forRelease), close);
    }

    /** Whether an answer given at once ends the connection: a body to read past, or a connection that ends anyway. */
    private boolean answerCloses() {
        return bodyExpected || !keepAlive || listener.shuttingDown();
    }

    private void answerAtOnce(FullHttpResponse response, boolean close) {
        if (close) {
            lingerAndClose(response);
            return;
        }
        ctx.writeAndFlush(response, ctx.voidPromise());
        idleSinceNanos = System.nanoTime();
        if (decoder.resume()) {
            decodeHeldBytes();
        }
    }

    /** {@code response} with {@code X-Served-By} naming the release it answers for, when the header is on. */
    private FullHttpResponse servedBy(FullHttpResponse response, Release forRelease) {
        if (lc.servedByHeader && forRelease != null) {
            response.headers().set(HeaderRewriter.X_SERVED_BY, forRelease.name());
        }
        return response;
    }

    /** The request body turned out bad or too large after forwarding began. */
    private void abortRequest(HttpResponseStatus status, String why) {
        if (upstream != null) {
            UpstreamConnection up = upstream;
            upstream = null;
            up.abandon();
        }
        closing = true;
        if (responseStarted) {
            breakResponse(why, null);
        } else {
            endExchange();
            reject(status, why);
        }
    }

    private void endExchange() {
        if (heldHead != null) {
            // The client went away before the response head went out.
            heldHead.release();
            heldHead = null;
        }
        if (upstreamDone) {
            upstreamDone = false;
            listener.bufferedTail(false);
        } else {
            release.requestEnded();
        }
        releaseReplay();
        stopBuffering();
        if (spool != null) {
            spool.release();
            spool = null;
        }
        spoolWriteOn = null;
        request = null;
        release = null;
        fallback = null;
        endpoint = null;
        bodyPaused = false;
        collecting = false;
    }

    // ---------------------------------------------------------------- upgraded connections

    private void startTunnel(ResponseHead head) {
        UpstreamConnection up = upstream;
        ByteBuf switching = ctx.alloc().buffer(head.size() + 64);
        ResponseHeadWriter.switchingProtocols(switching, head, lc.servedByHeader ? release.name() : null);
        tunnel = true;
        String protocol = request.headers().get(HttpHeaderNames.UPGRADE);
        if (protocol != null && HttpHeaderValues.WEBSOCKET.contentEqualsIgnoreCase(protocol.trim())) {
            framesFromUpstream = new WebSocketFrames();
        }
        responseStarted = true;
        releaseReplay();
        wire.writeAndFlush(switching, wire.voidPromise());

        // From here on both connections carry raw bytes. The upstream's decoder passes them on by itself after a
        // 101; the client side drops its HTTP encoder and its decoder passes bytes on as they come.
        releasePending();
        ctx.pipeline().remove(encoder);
        boolean sentAhead = decoder.switchToRaw();
        Release r = release;
        r.upgraded(ctx.channel(), startNanos, lc.drainTimeoutNanos);
        endExchange();
        upstream = up;
        ctx.channel().config().setAutoRead(true);
        up.channel().config().setAutoRead(true);
        if (sentAhead) {
            // What the client sent before the 101 came (a first frame, say) is the new protocol's.
            decodeHeldBytes();
        }
    }

    /** Bytes from the upstream of a tunnel; while it is being ended, only up to the end of the frame under way. */
    private void relayToClient(ByteBuf data, int index, int length) {
        WebSocketFrames frames = framesFromUpstream;
        if (frames == null) {
            wire.write(data.retainedSlice(index, length), wire.voidPromise());
        } else if (!endingTunnel) {
            frames.follow(data, index, length, false);
            wire.write(data.retainedSlice(index, length), wire.voidPromise());
        } else if (!lingering && ctx.channel().isActive() && !frames.atBoundary()) {
            int upToBoundary = frames.follow(data, index, length, true);
            if (upToBoundary > 0) {
                wire.write(data.retainedSlice(index, upToBoundary), wire.voidPromise());
            }
            if (frames.atBoundary()) {
                sayGoingAway();
            }
        }
        // else the Close frame has gone out: what the upstream still sends has no place after it
    }

    /**
     * Ends a WebSocket tunnel the way a server going away does (RFC 6455 7.1.2, status 1001): a Close frame to the
     * client after the frame under way, then the close. A client that sees it knows the server left on purpose
     * and can reconnect at once, to the release now serving, instead of reporting a dropped connection. What
     * ends the tunnel closes it a moment later if the frame under way does not end.
     */
    private void endTunnel() {
        if (endingTunnel) {
            return;
        }
        endingTunnel = true;
        WebSocketFrames frames = framesFromUpstream;
        if (!frames.followed() || frames.closeSent()) {
            // Frames that cannot be followed any more, or the app's own Close already sent: only the close is left.
            lingerAndClose(Unpooled.EMPTY_BUFFER);
        } else if (frames.atBoundary()) {
            sayGoingAway();
        }
    }

    /**
     * The Close frame, then a half-close and a linger (see lingerAndClose): closing at once with bytes the client
     * is still sending unread would reset the connection, and the reset could take the Close frame with it.
     */
    private void sayGoingAway() {
        lingerAndClose(WebSocketFrames.goingAway());
    }

    private void relayToUpstream(Object msg) {
        UpstreamConnection up = upstream;
        if (up == null || !(msg instanceof ByteBuf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        up.channel().writeAndFlush(msg, up.channel().voidPromise());
    }

    // ---------------------------------------------------------------- timers

    /** Makes sure the timer fires within {@code delayNanos}; one timer per connection, moved only when earlier. */
    private void scheduleTick(long delayNanos) {
        scheduleTick(System.nanoTime(), delayNanos);
    }

    /** {@link #scheduleTick(long)} from a time already read, {@code now}, which may be a little in the past. */
    private void scheduleTick(long now, long delayNanos) {
        long delay = Math.max(delayNanos, TimeUnit.MILLISECONDS.toNanos(10));
        long deadline = now + delay;
        if (timer != null) {
            if (deadline - tickDeadline >= 0) {
                return;
            }
            timer.cancel(false);
        }
        tickDeadline = deadline;
        timer = ctx.executor().schedule(this::tick, delay, TimeUnit.NANOSECONDS);
    }

    /**
     * One timer per connection, re-armed for the nearest deadline instead of scheduled per request: the header
     * read timeout (slowloris), the keep-alive idle timeout, the client-body stall and the upstream response
     * timeout.
     */
    private void tick() {
        timer = null;
        if (!ctx.channel().isActive() || tunnel) {
            return;
        }
        long now = System.nanoTime();
        long next;
        if (request != null) {
            boolean buffered = responseBuffer != null && responseBuffer.unsent() != 0;
            if (buffered && now - bufferProgressNanos >= lc.clientIdleTimeoutNanos) {
                // The client takes none of what the proxy kept for it: the file is held for nothing.
                closeStalledClient(now - bufferProgressNanos);
                return;
            }
            if (upstream != null && responseBuffer == null && clientStalledNanos != 0 && !ctx.channel().isWritable()) {
                long stalled = now - clientStalledNanos;
                if (stalled < BUFFER_AFTER_NANOS && mayBuffer()) {
                    next = BUFFER_AFTER_NANOS - stalled;
                } else if (stalled >= BUFFER_AFTER_NANOS && startBuffering()) {
                    // The client is slower than the upstream: what it cannot take yet goes to disk from here on,
                    // and the upstream, not read for the client meanwhile, is read on.
                    upstream.channel().config().setAutoRead(true);
                    clientStalledNanos = 0;
                    lastUpstreamNanos = now;
                    next = lc.clientIdleTimeoutNanos;
                } else if (stalled >= lc.clientIdleTimeoutNanos) {
                    // A client that stops reading a response holds an upstream connection: it gets the idle timeout.
                    closeStalledClient(stalled);
                    return;
                } else {
                    next = clientStalledNanos + lc.clientIdleTimeoutNanos - now;
                }
            } else if (upstream != null && requestComplete && !bufferFull) {
                long deadline = lastUpstreamNanos + lc.responseTimeoutNanos;
                if (now - deadline >= 0) {
                    fail(HttpResponseStatus.GATEWAY_TIMEOUT, UpstreamError.TIMEOUT, "no answer from " + endpoint + " within "
                            + TimeUnit.NANOSECONDS.toMillis(lc.responseTimeoutNanos) + " ms");
                    if (!ctx.channel().isActive()) {
                        return;
                    }
                    next = lc.headerReadTimeoutNanos;
                } else {
                    next = deadline - now;
                }
            } else if (!requestComplete && bodyPaused && upstream != null) {
                // The upstream takes no more of the body (a view that has not read it yet) and the client is not
                // read meanwhile: the wait is the upstream's, as silent as one that does not answer.
                long since = bodyPausedNanos - lastUpstreamNanos > 0 ? bodyPausedNanos : lastUpstreamNanos;
                long deadline = since + lc.responseTimeoutNanos;
                if (now - deadline >= 0) {
                    fail(HttpResponseStatus.GATEWAY_TIMEOUT, UpstreamError.TIMEOUT, endpoint
                            + " took none of the request body for "
                            + TimeUnit.NANOSECONDS.toMillis(lc.responseTimeoutNanos) + " ms");
                    return;
                }
                next = deadline - now;
            } else if (!requestComplete && ctx.channel().config().isAutoRead()
                    && now - lastClientNanos >= lc.clientIdleTimeoutNanos) {
                log.debug("client {} stalled sending a body", clientIp);
                abortRequest(HttpResponseStatus.REQUEST_TIMEOUT, "request body stalled");
                return;
            } else {
                next = Math.min(lc.responseTimeoutNanos, lc.clientIdleTimeoutNanos);
            }
            if (buffered) {
                next = Math.min(next, bufferProgressNanos + lc.clientIdleTimeoutNanos - now);
            }
        } else if (staticRequest != null) {
            long stalled = now - staticProgressNanos;
            if (!staticFromDisk) {
                next = lc.clientIdleTimeoutNanos; // from memory, or not begun: nothing to judge it by yet
            } else if (stalled >= lc.clientIdleTimeoutNanos) {
                log.info("{} {} (release {}, static file): client {} took no more of the response for {} ms; closed"
                        + " before its end", staticRequest.method(), UpstreamFailureLog.pathOf(staticRequest.uri()),
                        staticRelease.name(), clientIp, TimeUnit.NANOSECONDS.toMillis(stalled));
                ctx.close();
                return;
            } else {
                next = staticProgressNanos + lc.clientIdleTimeoutNanos - now;
            }
        } else {
            long headStarted = decoder.headStartedNanos();
            if (headStarted != StrictRequestDecoder.NO_HEAD && now - headStarted >= lc.headerReadTimeoutNanos) {
                log.debug("client {} too slow sending a request head", clientIp);
                lc.clientMetrics.rejected(408);
                ctx.close();
                return;
            }
            if (idleSinceNanos != 0 && headStarted == StrictRequestDecoder.NO_HEAD
                    && now - idleSinceNanos >= lc.clientIdleTimeoutNanos) {
                ctx.close();
                return;
            }
            if (headStarted != StrictRequestDecoder.NO_HEAD) {
                next = headStarted + lc.headerReadTimeoutNanos - now;
            } else if (idleSinceNanos != 0) {
                next = Math.min(idleSinceNanos + lc.clientIdleTimeoutNanos - now, lc.headerReadTimeoutNanos);
            } else {
                next = lc.headerReadTimeoutNanos;
            }
        }
        scheduleTick(next);
    }

    /** Said, unlike a client that leaves: the proxy cuts this response, and a user may report it. */
    private void closeStalledClient(long stalledNanos) {
        log.info("{} {} {} (release {}): client {} took no more of the response for {} ms; closed before its end",
                responseStatus, request.method(), UpstreamFailureLog.pathOf(request.uri()), release.name(), clientIp,
                TimeUnit.NANOSECONDS.toMillis(stalledNanos));
        ctx.close();
    }

    private static HttpResponseStatus statusFor(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return HttpResponseStatus.REQUEST_URI_TOO_LONG;
        }
        if (cause instanceof TooLongHttpHeaderException) {
            return HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE;
        }
        return HttpResponseStatus.BAD_REQUEST;
    }
}
