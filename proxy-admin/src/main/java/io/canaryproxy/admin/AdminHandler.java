package io.canaryproxy.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.ProxyStatus;
import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.analysis.Check;
import io.canaryproxy.listener.InFlightRequest;
import io.canaryproxy.routing.RouteTable;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the admin API on one connection. Every answer is JSON, except {@code /metrics} (Prometheus text); every
 * error is {@code {"error": "..."}}.
 *
 * <p>{@code /drain}, {@code /reload} and {@code /canary/start} answer later, when the proxy's drain future completes,
 * the reload is done or the analysis has started (which may wait for a pre-rollout webhook), without blocking the
 * event loop. Requests that a client pipelines behind them are held and answered in order afterwards.
 */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

    static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    static final Duration MAX_DRAIN_TIMEOUT = Duration.ofHours(1);
    /** How long past its own deadline a drain future may take before the answer is built from a fresh status. */
    private static final Duration DRAIN_GRACE = Duration.ofSeconds(5);
    /** How many of a release's requests still under way a drain that did not finish lists, oldest first. */
    private static final int LISTED_REQUESTS = 10;

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

    private static final Set<HttpMethod> GET = Set.of(HttpMethod.GET, HttpMethod.HEAD);
    private static final Set<HttpMethod> POST = Set.of(HttpMethod.POST);
    private static final String ENDPOINTS = "/healthz, /status, /metrics, /switch, /canary, /canary/start,"
            + " /canary/pause, /canary/resume, /promote, /rollback, /drain, /reload";
    /** The Prometheus text exposition format, version 0.0.4: what {@link PrometheusMeterRegistry#scrape()} writes. */
    static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    /** The OpenMetrics text format, version 1.0.0. */
    static final String OPENMETRICS_TEXT = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    private static final String CANARY_EXAMPLE = "/canary?release=green&weight=10";
    /**
     * The query parameters of the calls that change something or wait: any other is refused, so that a misspelt
     * {@code forse=true} or {@code timout=60s} is not quietly ignored. Reads (/status, /metrics) take any.
     */
    private static final Map<String, List<String>> PARAMETERS = Map.of(
            "/switch", List.of("release", "force"),
            "/canary", List.of("release", "weight", "force"),
            "/canary/start", List.of("release", "force"),
            "/canary/pause", List.of(),
            "/canary/resume", List.of(),
            "/promote", List.of(),
            "/rollback", List.of(),
            "/drain", List.of("release", "timeout"),
            "/reload", List.of());

    private final CanaryProxy proxy;
    private final byte[] token;
    private final ObjectWriter json;
    private final ConfigReloader reloader;
    private final PrometheusMeterRegistry prometheus;

    private final ArrayDeque<FullHttpRequest> held = new ArrayDeque<>();
    private boolean busy;
    private boolean closing;
    private final long idleNanos;
    /** When the last answer that kept the connection busy went out: its idle time starts there, not at its read. */
    private long busyEndedNanos;

    /** One request being answered: what the answer needs once the request itself has been released. */
    private record Exchange(HttpMethod method, String path, boolean keepAlive, String remote) {
    }

    /**
     * @param token      the bearer token mutations need, or {@code null} when they need none
     * @param prometheus the registry {@code /metrics} scrapes, or {@code null} when the proxy records into none
     * @param idleNanos  how long a connection may send nothing (see {@link #userEventTriggered})
     */
    AdminHandler(CanaryProxy proxy, byte[] token, ObjectMapper mapper, ConfigReloader reloader,
            PrometheusMeterRegistry prometheus, long idleNanos) {
        super(true);
        this.idleNanos = idleNanos;
        this.busyEndedNanos = System.nanoTime() - idleNanos;
        this.proxy = proxy;
        this.token = token;
        this.json = mapper.writerWithDefaultPrettyPrinter();
        this.reloader = reloader;
        this.prometheus = prometheus;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (closing) {
            return;
        }
        if (busy) {
            held.add(request.retain());
            return;
        }
        handle(ctx, request);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        releaseHeld();
        super.channelInactive(ctx);
    }

    /**
     * Silent for {@code limits.client-idle-timeout}: closed, unless it waits for an answer (a drain) or had one
     * within that time; the idle handler counts from the last read, which a long wait leaves far behind.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            if (!busy && System.nanoTime() - busyEndedNanos >= idleNanos) {
                ctx.close();
            }
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("admin connection from {} failed", ctx.channel().remoteAddress(), cause);
        releaseHeld();
        ctx.close();
    }

    private void handle(ChannelHandlerContext ctx, FullHttpRequest request) {
        String remote = remote(ctx);
        if (request.decoderResult().isFailure()) {
            Exchange ex = new Exchange(request.method(), "?", false, remote);
            Throwable cause = request.decoderResult().cause();
            if (cause instanceof TooLongHttpLineException) {
                respond(ctx, ex, HttpResponseStatus.REQUEST_URI_TOO_LONG,
                        error("request line longer than " + HttpObjectDecoder.DEFAULT_MAX_INITIAL_LINE_LENGTH
                                + " bytes"));
            } else if (cause instanceof TooLongHttpHeaderException) {
                respond(ctx, ex, HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                        error("request headers larger than " + HttpObjectDecoder.DEFAULT_MAX_HEADER_SIZE + " bytes"));
            } else {
                respond(ctx, ex, HttpResponseStatus.BAD_REQUEST, error("malformed HTTP request"));
            }
            return;
        }
        Exchange ex = new Exchange(request.method(), "?", HttpUtil.isKeepAlive(request), remote);
        try {
            QueryParams query = QueryParams.parse(request.uri());
            ex = new Exchange(ex.method(), normalize(query.path()), ex.keepAlive(), remote);
            dispatch(ctx, request, query, ex);
        } catch (AdminException e) {
            respond(ctx, ex, e.status(), error(e.getMessage()));
        } catch (UncheckedIOException e) {
            cannotPersist(ctx, ex, e);
        } catch (RuntimeException e) {
            log.error("admin request {} {} from {} failed", ex.method(), clean(request.uri()), remote, e);
            respond(ctx, ex, HttpResponseStatus.INTERNAL_SERVER_ERROR, error("internal error: " + e));
        }
    }

    private void dispatch(ChannelHandlerContext ctx, FullHttpRequest request, QueryParams query, Exchange ex) {
        switch (ex.path()) {
            case "/healthz" -> {
                if (allowed(ctx, ex, GET)) {
                    respond(ctx, ex, HttpResponseStatus.OK, Map.of("status", "ok"));
                }
            }
            case "/status" -> {
                if (allowed(ctx, ex, GET)) {
                    respond(ctx, ex, HttpResponseStatus.OK, statusJson(proxy.status()));
                }
            }
            case "/metrics" -> {
                if (allowed(ctx, ex, GET)) {
                    metrics(ctx, request, ex);
                }
            }
            case "/switch" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    doSwitch(ctx, query, ex);
                }
            }
            case "/canary" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    canary(ctx, query, ex);
                }
            }
            case "/canary/start" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    startAnalysis(ctx, query, ex);
                }
            }
            case "/canary/pause" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    controlAnalysis(ctx, ex, "pause", proxy::pauseAnalysis);
                }
            }
            case "/canary/resume" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    controlAnalysis(ctx, ex, "resume", proxy::resumeAnalysis);
                }
            }
            case "/promote" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    endCanary(ctx, ex, "promote", proxy::promote);
                }
            }
            case "/rollback" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    endCanary(ctx, ex, "rollback", proxy::rollback);
                }
            }
            case "/drain" -> {
                if (allowed(ctx, ex, GET) && takes(query, ex)) {
                    drain(ctx, query, ex);
                }
            }
            case "/reload" -> {
                if (allowed(ctx, ex, POST) && authorized(ctx, request, ex) && takes(query, ex)) {
                    reload(ctx, ex);
                }
            }
            default -> respond(ctx, ex, HttpResponseStatus.NOT_FOUND,
                    error("no such endpoint: " + clean(ex.path()) + " (endpoints: " + ENDPOINTS + ")"));
        }
    }

    /** Whether the call takes every query parameter it was given: a 400 otherwise (see {@link #PARAMETERS}). */
    private static boolean takes(QueryParams query, Exchange ex) {
        query.requireOnly(PARAMETERS.get(ex.path()), ex.path());
        return true;
    }

    private void doSwitch(ChannelHandlerContext ctx, QueryParams query, Exchange ex) {
        String release = query.required("release", "/switch?release=green");
        boolean force = query.bool("force", false);
        requireKnown(release);
        RouteTable before = proxy.routes();
        // Off the admin loop: the release is asked whether it serves, which may take up to the check's timeout.
        answerChange(ctx, ex, offLoop("switch", () -> proxy.switchTo(release, force)), "switch to " + release,
                failure -> unknownRelease(release), after -> {
                    log.info("{}: switch{}: {} -> {} (route table v{})", ex.remote(), force ? " (forced)" : "",
                            before.describe(), after.describe(), after.version());
                    respond(ctx, ex, HttpResponseStatus.OK, changeJson(before, after));
                });
    }

    private void canary(ChannelHandlerContext ctx, QueryParams query, Exchange ex) {
        String release = query.required("release", CANARY_EXAMPLE);
        String weight = query.required("weight", CANARY_EXAMPLE);
        boolean force = query.bool("force", false);
        int basisPoints;
        try {
            basisPoints = Weights.basisPoints(weight);
        } catch (IllegalArgumentException e) {
            throw AdminException.badRequest("query parameter 'weight' = \"" + clean(weight) + "\": " + e.getMessage());
        }
        requireKnown(release);
        RouteTable before = proxy.routes();
        // The stable release itself is the one bad argument left: unknown ones and bad weights were refused above.
        answerChange(ctx, ex, offLoop("canary", () -> proxy.setCanary(release, basisPoints / 100.0, force)),
                "canary " + release + " at " + weightPercent(basisPoints) + "%", Throwable::getMessage, after -> {
                    log.info("{}: canary{}: {} -> {} (route table v{})", ex.remote(), force ? " (forced)" : "",
                            before.describe(), after.describe(), after.version());
                    respond(ctx, ex, HttpResponseStatus.OK, changeJson(before, after));
                });
    }

    /** {@code /promote} and {@code /rollback}: 409 when there is no canary. */
    private void endCanary(ChannelHandlerContext ctx, Exchange ex, String action, Supplier<RouteTable> change) {
        RouteTable before = proxy.routes();
        RouteTable after;
        try {
            after = change.get();
        } catch (IllegalStateException e) {
            log.info("{}: {} refused: {}", ex.remote(), action, e.getMessage());
            respond(ctx, ex, HttpResponseStatus.CONFLICT, error(e.getMessage()));
            return;
        }
        log.info("{}: {}: {} -> {} (route table v{})", ex.remote(), action, before.describe(), after.describe(),
                after.version());
        respond(ctx, ex, HttpResponseStatus.OK, withUnsavedWarning(changeJson(before, after)));
    }

    /**
     * {@code /canary/start}: 400 for an unknown release or the stable one, 409 when the proxy refuses (a run going
     * on, a cooldown, the pre-rollout webhook, no healthy endpoint). Runs off the event loop: the proxy asks the
     * pre-rollout webhooks first, and waits for their answers.
     */
    private void startAnalysis(ChannelHandlerContext ctx, QueryParams query, Exchange ex) {
        String release = query.required("release", "/canary/start?release=green");
        boolean force = query.bool("force", false);
        requireKnown(release);
        RouteTable before = proxy.routes();
        // The stable release is the one bad argument left: unknown ones were refused above.
        answerChange(ctx, ex, offLoop("canary-analysis-start", () -> proxy.startAnalysis(release, force)),
                "analysis of " + release, failure -> Main.oneLine(failure.getMessage()), status -> {
                    RouteTable after = proxy.routes();
                    log.info("{}: analysis of {} started{}: {} -> {} (route table v{})", ex.remote(), release,
                            force ? " (forced)" : "", before.describe(), after.describe(), after.version());
                    respond(ctx, ex, HttpResponseStatus.OK, withUnsavedWarning(analysisJson(status)));
                });
    }

    /**
     * Answers a change made off the admin loop: {@code done} with its result; otherwise 400 with {@code badRequest}'s
     * text for a bad argument, 409 (logged) with the proxy's reason when it refuses, 503 when the state file cannot
     * be written.
     */
    private <T> void answerChange(ChannelHandlerContext ctx, Exchange ex, CompletableFuture<T> change, String what,
            Function<Throwable, String> badRequest, Consumer<T> done) {
        later(ctx, ex, change, (result, failure) -> {
            if (failure == null) {
                done.accept(result);
            } else if (failure instanceof IllegalArgumentException) {
                respond(ctx, ex, HttpResponseStatus.BAD_REQUEST, error(badRequest.apply(failure)));
            } else if (failure instanceof IllegalStateException) {
                String why = Main.oneLine(failure.getMessage());
                log.info("{}: {} refused: {}", ex.remote(), what, why);
                respond(ctx, ex, HttpResponseStatus.CONFLICT, error(why));
            } else if (failure instanceof UncheckedIOException e) {
                cannotPersist(ctx, ex, e);
            } else {
                throw new IllegalStateException(what + " failed", failure);
            }
        });
    }

    /** {@code /canary/pause} and {@code /canary/resume}: 409 when no analysis is running. */
    private void controlAnalysis(ChannelHandlerContext ctx, Exchange ex, String action,
            Supplier<Analysis.Status> change) {
        Analysis.Status status;
        try {
            status = change.get();
        } catch (IllegalStateException e) {
            log.info("{}: analysis {} refused: {}", ex.remote(), action, e.getMessage());
            respond(ctx, ex, HttpResponseStatus.CONFLICT, error(e.getMessage()));
            return;
        }
        log.info("{}: analysis {}: {} {} at step {} ({}%)", ex.remote(), action, status.release(),
                status.state().name().toLowerCase(Locale.ROOT), status.step(), percent(status.weight()));
        respond(ctx, ex, HttpResponseStatus.OK, withUnsavedWarning(analysisJson(status)));
    }

    /**
     * {@code body} with a {@code warning} when what is in force is not in the state files (a full disk): a rollback
     * or a pause still goes ahead, and the operator who asked should know that a restart would undo it.
     */
    private Map<String, Object> withUnsavedWarning(Map<String, Object> body) {
        String unsaved = proxy.unsavedState();
        if (unsaved != null) {
            body.put("warning", unsaved);
        }
        return body;
    }

    /** The state file cannot be written: the change was not made. The message says which file and why. */
    private void cannotPersist(ChannelHandlerContext ctx, Exchange ex, UncheckedIOException e) {
        String message = Main.oneLine(e.getMessage());
        log.error("{}: {} {} failed: {}", ex.remote(), ex.method(), ex.path(), message);
        respond(ctx, ex, HttpResponseStatus.INTERNAL_SERVER_ERROR, error(message));
    }

    /** Runs {@code work} on a thread of its own; the future completes with its result or its exception. */
    private static <T> CompletableFuture<T> offLoop(String name, Supplier<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            try {
                result.complete(work.get());
            } catch (RuntimeException | Error e) {
                result.completeExceptionally(e);
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
        return result;
    }

    private void reload(ChannelHandlerContext ctx, Exchange ex) {
        later(ctx, ex, reloader.reloadAsync(ex.remote()), (result, failure) -> {
            if (failure != null) {
                throw new IllegalStateException("reload failed", failure);
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("reloaded", result.outcome() == ConfigReloader.Outcome.RELOADED);
            HttpResponseStatus status = switch (result.outcome()) {
                case RELOADED -> HttpResponseStatus.OK;
                case REFUSED -> HttpResponseStatus.BAD_REQUEST;
                case NO_FILE, STOPPING -> HttpResponseStatus.CONFLICT;
                case FAILED -> HttpResponseStatus.INTERNAL_SERVER_ERROR;
            };
            if (result.outcome() == ConfigReloader.Outcome.RELOADED) {
                body.put("changes", result.changes());
                if (!result.warnings().isEmpty()) {
                    body.put("warnings", result.warnings());
                }
            } else {
                body.put("error", result.error());
            }
            if (reloader.file() != null) {
                body.put("file", reloader.file().toString());
            }
            respond(ctx, ex, status, body);
        });
    }

    private void metrics(ChannelHandlerContext ctx, FullHttpRequest request, Exchange ex) {
        if (prometheus == null) {
            respond(ctx, ex, HttpResponseStatus.NOT_FOUND, error("metrics are not exported: this proxy records"
                    + " its metrics into no Prometheus registry (start it with a PrometheusMeterRegistry)"));
            return;
        }
        String format = metricsFormat(request.headers().get(HttpHeaderNames.ACCEPT));
        byte[] text = prometheus.scrape(format).getBytes(StandardCharsets.UTF_8);
        respondBytes(ctx, ex, HttpResponseStatus.OK, format, text);
    }

    /**
     * OpenMetrics 1.0 when the scraper asks for it (Prometheus does, by default), the 0.0.4 text format otherwise.
     * Protobuf, which Prometheus would prefer, is not offered: it needs a binary body, and the text formats say the
     * same.
     */
    static String metricsFormat(String accept) {
        return accept != null && accept.contains("application/openmetrics-text") ? OPENMETRICS_TEXT : PROMETHEUS_TEXT;
    }

    private void drain(ChannelHandlerContext ctx, QueryParams query, Exchange ex) {
        String release = query.required("release", "/drain?release=blue&timeout=30s");
        Duration timeout = query.duration("timeout", DEFAULT_DRAIN_TIMEOUT, MAX_DRAIN_TIMEOUT);
        // Not checked against the configured names: a release a reload removed can be drained too.
        CompletableFuture<ProxyStatus.Release> drained;
        try {
            drained = proxy.awaitDrained(release, timeout);
        } catch (IllegalArgumentException e) {
            throw AdminException.badRequest(unknownRelease(release));
        } catch (IllegalStateException e) {
            log.info("{}: drain of {} refused: {}", ex.remote(), release, e.getMessage());
            respond(ctx, ex, HttpResponseStatus.CONFLICT, error(e.getMessage()));
            return;
        }
        log.info("{}: waiting up to {} for release {} to drain", ex.remote(), Durations.format(timeout), release);
        // A drain that did not finish says what it waits for: the operator decides whether to wait longer.
        CompletableFuture<DrainAnswer> answer = drained.thenCompose(state -> state.drained()
                ? CompletableFuture.completedFuture(new DrainAnswer(state, List.of()))
                : proxy.requestsInFlight(release, LISTED_REQUESTS).thenApply(list -> new DrainAnswer(state, list)));
        later(ctx, ex, answer.orTimeout(timeout.plus(DRAIN_GRACE).toMillis(), TimeUnit.MILLISECONDS),
                (a, failure) -> drainDone(ctx, ex, release, timeout, a, failure));
    }

    /** A drain's end: the release's state and, when it is not drained, its oldest requests still under way. */
    private record DrainAnswer(ProxyStatus.Release state, List<InFlightRequest> requests) {
    }

    private void drainDone(ChannelHandlerContext ctx, Exchange ex, String release, Duration timeout,
            DrainAnswer answer, Throwable failure) {
        ProxyStatus.Release state = answer == null ? null : answer.state();
        List<InFlightRequest> requests = answer == null ? List.of() : answer.requests();
        if (failure != null) {
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            if (!(cause instanceof TimeoutException)) {
                throw new IllegalStateException("waiting for release " + release + " to drain failed", cause);
            }
            state = proxy.status().releases().get(release);
            if (state == null) {
                throw new IllegalStateException("release " + release + " is gone from the status");
            }
        }
        if (state.drained()) {
            log.info("{}: release {} drained", ex.remote(), release);
        } else {
            // A deploy script stops here: the gunicorn it was about to stop still has users.
            log.warn("{}: release {} not drained within {} ({} in flight, {} connections, {} upgraded){}",
                    ex.remote(), release, Durations.format(timeout), state.inflight(), state.connections(),
                    state.upgraded(),
                    requests.isEmpty() ? "" : "; the oldest request: " + describeRequest(requests.get(0)));
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("release", release);
        body.put("drained", state.drained());
        body.putAll(releaseJson(state));
        List<Map<String, Object>> listed = new ArrayList<>();
        for (InFlightRequest r : requests) {
            Map<String, Object> request = new LinkedHashMap<>();
            request.put("method", r.method());
            request.put("path", r.path());
            request.put("client", r.client());
            request.put("ageMs", r.age().toMillis());
            request.put("stage", r.stage().token());
            request.put("status", r.status() == 0 ? null : r.status());
            request.put("staticFile", r.staticFile());
            listed.add(request);
        }
        body.put("requests", listed);
        respond(ctx, ex, state.drained() ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, body);
    }

    /**
     * Answers {@code ex} once {@code pending} completes: {@code done} runs on this connection's event loop and
     * responds. Until then the connection reads nothing more, and requests already read are held.
     */
    private <T> void later(ChannelHandlerContext ctx, Exchange ex, CompletableFuture<T> pending,
            BiConsumer<T, Throwable> done) {
        busy = true;
        ctx.channel().config().setAutoRead(false);
        pending.whenComplete((value, failure) -> ctx.executor().execute(() -> {
            try {
                done.accept(value, failure);
            } catch (RuntimeException e) {
                log.error("admin request {} {} from {} failed", ex.method(), ex.path(), ex.remote(), e);
                respond(ctx, ex, HttpResponseStatus.INTERNAL_SERVER_ERROR, error("internal error: " + e));
            } finally {
                busy = false;
                busyEndedNanos = System.nanoTime();
                answerHeld(ctx);
            }
        }));
    }

    /** Answers the requests that arrived while a drain was pending, in order, until one of them is pending too. */
    private void answerHeld(ChannelHandlerContext ctx) {
        while (!busy && !closing && !held.isEmpty()) {
            FullHttpRequest request = held.poll();
            try {
                handle(ctx, request);
            } finally {
                request.release();
            }
        }
        if (closing) {
            releaseHeld();
        }
        if (!busy && !closing) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    private void releaseHeld() {
        FullHttpRequest request;
        while ((request = held.poll()) != null) {
            request.release();
        }
    }

    private boolean allowed(ChannelHandlerContext ctx, Exchange ex, Set<HttpMethod> methods) {
        if (methods.contains(ex.method())) {
            return true;
        }
        String allow = methods == GET ? "GET, HEAD" : "POST";
        respond(ctx, ex, HttpResponseStatus.METHOD_NOT_ALLOWED,
                error("method " + clean(ex.method().name()) + " not allowed on " + ex.path() + " (allowed: " + allow
                        + ")"),
                HttpHeaderNames.ALLOW, allow);
        return false;
    }

    private boolean authorized(ChannelHandlerContext ctx, FullHttpRequest request, Exchange ex) {
        if (token == null) {
            return true;
        }
        String header = request.headers().get(HttpHeaderNames.AUTHORIZATION);
        String problem;
        if (header == null) {
            problem = "missing Authorization: Bearer <token> header (proxy.admin.token is set)";
        } else if (!header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            problem = "Authorization header is not a Bearer token";
        } else if (!MessageDigest.isEqual(header.substring(7).trim().getBytes(StandardCharsets.UTF_8), token)) {
            problem = "wrong bearer token";
        } else {
            return true;
        }
        log.warn("{}: {} {} refused: {}", ex.remote(), ex.method(), ex.path(), problem);
        respond(ctx, ex, HttpResponseStatus.UNAUTHORIZED, error(problem),
                HttpHeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"canary-proxy\"");
        return false;
    }

    private void requireKnown(String release) {
        if (!releaseNames().contains(release)) {
            throw AdminException.badRequest(unknownRelease(release));
        }
    }

    private String unknownRelease(String release) {
        return "unknown release '" + clean(release) + "' (known: " + String.join(", ", releaseNames()) + ")";
    }

    /** The configured release names, in configuration order. */
    private Set<String> releaseNames() {
        return proxy.config().releases().keySet();
    }

    private void respond(ChannelHandlerContext ctx, Exchange ex, HttpResponseStatus status, Object body,
            CharSequence... headers) {
        byte[] bytes;
        try {
            bytes = json.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            log.error("cannot render the answer to {} {}", ex.method(), ex.path(), e);
            status = HttpResponseStatus.INTERNAL_SERVER_ERROR;
            bytes = "{\"error\": \"internal error: cannot render the answer\"}".getBytes(StandardCharsets.UTF_8);
        }
        byte[] withNewline = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, withNewline, 0, bytes.length);
        withNewline[bytes.length] = '\n';
        respondBytes(ctx, ex, status, HttpHeaderValues.APPLICATION_JSON, withNewline, headers);
    }

    private void respondBytes(ChannelHandlerContext ctx, Exchange ex, HttpResponseStatus status,
            CharSequence contentType, byte[] body, CharSequence... headers) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(body));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, contentType)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        for (int i = 0; i + 1 < headers.length; i += 2) {
            response.headers().set(headers[i], headers[i + 1]);
        }
        if (ex.keepAlive()) {
            ctx.writeAndFlush(response, ctx.voidPromise());
        } else {
            closing = true;
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    static Map<String, Object> error(String message) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        return body;
    }

    static Map<String, Object> routeJson(RouteTable routes) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("stable", routes.stable());
        body.put("canary", routes.canary());
        body.put("weight", weightPercent(routes.weightBasisPoints()));
        body.put("version", routes.version());
        body.put("changedAt", routes.changedAt() == null ? null : routes.changedAt().toString());
        return body;
    }

    /**
     * The answer to a change of the route table: the new table, plus the stable release and the canary before the
     * change (the releases a deploy script may now want to drain).
     */
    static Map<String, Object> changeJson(RouteTable before, RouteTable after) {
        Map<String, Object> body = routeJson(after);
        body.put("previous", before.stable());
        body.put("previousCanary", before.canary());
        return body;
    }

    static Map<String, Object> statusJson(ProxyStatus status) {
        Map<String, Object> body = routeJson(status.routes());
        body.put("analysis", analysisJson(status.analysis()));
        Map<String, Object> releases = new LinkedHashMap<>();
        status.releases().forEach((name, release) -> releases.put(name, releaseJson(release)));
        body.put("releases", releases);
        return body;
    }

    /**
     * A request a drain waits for, as the log and {@code ctl drain} write it: {@code GET /export.csv from
     * 203.0.113.7, 41.2 s, receiving the response (200)}.
     */
    static String describeRequest(String method, String path, String client, long ageMillis, String stage) {
        return String.format(Locale.ROOT, "%s %s from %s, %.1f s, %s", method, path, client, ageMillis / 1000.0, stage);
    }

    private static String describeRequest(InFlightRequest r) {
        return describeRequest(r.method(), r.path(), r.client(), r.age().toMillis(), r.stageText());
    }

    static Map<String, Object> releaseJson(ProxyStatus.Release release) {
        List<Map<String, Object>> endpoints = new ArrayList<>();
        for (ProxyStatus.Endpoint e : release.endpoints()) {
            Map<String, Object> endpoint = new LinkedHashMap<>();
            endpoint.put("address", e.address());
            endpoint.put("healthy", e.healthy());
            endpoint.put("connections", e.connections());
            endpoint.put("removed", e.removed());
            endpoint.put("problem", e.problem());
            endpoints.add(endpoint);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("endpoints", endpoints);
        body.put("inflight", release.inflight());
        body.put("connections", release.connections());
        body.put("upgraded", release.upgraded());
        body.put("routed", release.routed());
        body.put("drained", release.drained());
        return body;
    }

    /**
     * The automated analysis: {@code state} (idle, running, paused), the {@code release} it is or was about,
     * {@code step} (from 0) and its {@code weight}, {@code lastOutcome} ({@code null} before the first), and the
     * {@code history} of its checks, oldest first, each with its verdict, reason and figures.
     */
    static Map<String, Object> analysisJson(Analysis.Status status) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("state", status.state().name().toLowerCase(Locale.ROOT));
        body.put("release", status.release());
        body.put("step", status.step());
        body.put("weight", percent(status.weight()));
        String outcome = status.lastOutcome();
        body.put("lastOutcome", outcome == null || outcome.isEmpty() ? null : outcome);
        body.put("history", status.history().stream().map(Check::toMap).toList());
        return body;
    }

    /** A percentage as {@code 10} or {@code 12.5}. */
    static Number percent(double value) {
        return value == Math.rint(value) && Math.abs(value) < 1e15 ? (Number) (long) value : (Number) value;
    }

    /** 10 % is {@code 10}, 12.5 % is {@code 12.5}. */
    static Number weightPercent(int basisPoints) {
        return basisPoints % 100 == 0 ? (Number) (basisPoints / 100) : (Number) (basisPoints / 100.0);
    }

    /** {@code /status/} is {@code /status}. */
    private static String normalize(String path) {
        return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }

    private static String remote(ChannelHandlerContext ctx) {
        return String.valueOf(ctx.channel().remoteAddress()).replaceFirst("^/", "");
    }

    /** Client-supplied text made safe for one log line or message: no control characters, bounded length. */
    static String clean(String text) {
        StringBuilder sb = new StringBuilder(Math.min(text.length(), 200));
        for (int i = 0; i < text.length() && i < 200; i++) {
            char c = text.charAt(i);
            sb.append(c < 0x20 || c == 0x7f ? '?' : c);
        }
        if (text.length() > 200) {
            sb.append("...");
        }
        return sb.toString();
    }
}
