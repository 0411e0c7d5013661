package io.canaryproxy.staticfiles;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.canaryproxy.config.ReleaseConfig;
import io.canaryproxy.config.StaticFilesConfig;
import io.canaryproxy.config.StaticFilesSettings;
import io.canaryproxy.internal.HttpDate;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelProgressiveFutureListener;
import io.netty.channel.DefaultFileRegion;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one release's static files ({@code proxy.releases.NAME.static}) from the proxy itself, so that a page and
 * its assets always come from the same release. A file its root lacks comes from another release's root under
 * the same prefix, if one has it (unless {@code static-files.from-other-releases} is off): an asset named by a
 * page another release served.
 *
 * <p>Build the instances once per configuration with {@link #forReleases}. For a request routed to a release that
 * has an instance, and whose URI {@link #matches} its prefix, call {@link #serve} on the client channel's event
 * loop instead of forwarding the request. It answers GET and HEAD with the file (200, or 206 for a byte range),
 * 304 to a conditional request the client's copy satisfies, 416 to an unsatisfiable range, 404 to anything that
 * is not a regular file inside the root (traversal attempts included) and 405 to other methods. A client whose
 * {@code Accept-Encoding} takes it gets the file's {@link Precompressed} variant, if the build made one.
 *
 * <p>Small files are answered from memory; larger ones go from disk to socket without being copied through the
 * JVM ({@link DefaultFileRegion}: {@code sendfile} on epoll, {@code transferTo} on NIO), which needs a plain TCP
 * pipeline: no TLS or compression handler between the caller and the socket. Looking a file up does a little
 * blocking I/O on the event loop: one {@code stat} when it is cached, and on a miss a {@code realpath}, a
 * {@code stat} and, for a small file, one read of at most the small-file limit. These are page-cache operations
 * of microseconds on a local disk; large files are never read by the event loop.
 *
 * <p>Instances are immutable and thread-safe; a configuration reload builds new ones (and a new, empty cache).
 */
public final class StaticFiles {

    private static final Logger log = LoggerFactory.getLogger(StaticFiles.class);

    private static final String ALLOWED_METHODS = "GET, HEAD";
    private static final String VARY = "Cookie, X-Canary";
    private static final String VARY_ENCODING = VARY + ", Accept-Encoding";
    private static final String ACCEPT_ENCODING = "Accept-Encoding";
    private static final String X_SERVED_BY = "X-Served-By";
    private static final String BYTES = "bytes";

    private final String release;
    private final String prefix;
    private final Path root;
    private final String cacheControl;
    private final FileCache cache;
    private final boolean servedBy;
    private final boolean fromOtherReleases;
    /**
     * Every release serves static files under this prefix and takes a file it lacks from another's root: a name
     * only one root has is then the same file for every user, whatever the route.
     */
    private final boolean sameForAllWhenAlone;
    /**
     * Whether a name is in this root alone, remembered for a second: finding that no other root has a name costs a
     * failed {@code realpath} in each, several times the cost of serving a cached file, and the fingerprinted names
     * this is for are asked for on every page view. A name a deploy adds to another root varies within a second.
     */
    private final Cache<String, Boolean> alone = Caffeine.newBuilder()
            .maximumSize(10_000)
            .expireAfterWrite(1, TimeUnit.SECONDS)
            .executor(Runnable::run)
            .build();
    private final Function<String, Boolean> lookUpAlone = this::noOtherRootHas;
    /** Every release's instance of this configuration, this one included: filled in before any is published. */
    private final Map<String, StaticFiles> all;

    StaticFiles(String release, StaticFilesConfig config, StaticFilesSettings settings, FileCache cache,
                boolean servedBy, Map<String, StaticFiles> all, boolean everyReleaseHere) {
        this.release = release;
        this.prefix = config.prefix();
        this.root = config.root();
        this.cacheControl = settings.cacheControl();
        this.fromOtherReleases = settings.fromOtherReleases();
        this.sameForAllWhenAlone = fromOtherReleases && everyReleaseHere;
        this.cache = cache;
        this.servedBy = servedBy;
        this.all = all;
    }

    /**
     * One instance for each release that names static files, by release name, in the order given; releases
     * without static files have none. All share one cache bounded by {@code settings.cacheMaxBytes()}.
     *
     * <p>A root that does not exist yet is only logged: a deploy may create it later, and until then its
     * requests get 404.
     */
    public static Map<String, StaticFiles> forReleases(Collection<ReleaseConfig> releases,
                                                       StaticFilesSettings settings) {
        return forReleases(releases, settings, false);
    }

    /** {@link #forReleases(Collection, StaticFilesSettings)}, adding {@code X-Served-By} when {@code servedBy}. */
    public static Map<String, StaticFiles> forReleases(Collection<ReleaseConfig> releases,
                                                       StaticFilesSettings settings, boolean servedBy) {
        FileCache cache = new FileCache(settings.cacheMaxBytes(), settings.smallFileMax());
        Map<String, StaticFiles> result = new LinkedHashMap<>();
        Map<String, StaticFiles> all = Collections.unmodifiableMap(result);
        for (ReleaseConfig release : releases) {
            StaticFilesConfig config = release.staticFiles();
            if (config == null) {
                continue;
            }
            if (!Files.isDirectory(config.root())) {
                boolean othersServe = settings.fromOtherReleases() && releases.stream().anyMatch(r -> r != release
                        && r.staticFiles() != null && r.staticFiles().prefix().equals(config.prefix()));
                log.warn("static root {} of release {} is not a directory (yet): its {} requests get {}",
                        config.root(), release.name(), config.prefix(), othersServe
                                ? "the files of the other releases with that prefix (from-other-releases), and 404"
                                + " for any they do not have"
                                : "404");
            }
            boolean everyReleaseHere = releases.stream().allMatch(r -> r.staticFiles() != null
                    && r.staticFiles().prefix().equals(config.prefix()));
            result.put(release.name(), new StaticFiles(release.name(), config, settings, cache, servedBy, all,
                    everyReleaseHere));
        }
        String names = System.getProperty("sun.jnu.encoding", "");
        if (!result.isEmpty() && !names.equalsIgnoreCase("UTF-8")) {
            // Java turns file names into paths with the locale's encoding: under LANG=C (a bare container, a
            // service without an environment) no name outside ASCII can be looked up, and each is a 404.
            log.warn("file names are read as {}, not UTF-8: static files whose names are not ASCII get 404; start"
                    + " the proxy with LANG=C.UTF-8 (or another UTF-8 locale)", names.isEmpty() ? "?" : names);
        }
        return all;
    }

    /** The release whose files these are. */
    public String release() {
        return release;
    }

    /** The URL path prefix, starting and ending with {@code /}, such as {@code /static/}. */
    public String prefix() {
        return prefix;
    }

    /**
     * Whether the request is for a static file of this release: its URI, in origin form (as the listener has it
     * after turning an absolute-form target into one), starts with the prefix. A plain, case-sensitive string
     * comparison with no allocation; {@link #serve} checks the rest.
     */
    public boolean matches(String uri) {
        return uri.startsWith(prefix);
    }

    /**
     * Writes the complete response to {@code request} and flushes it. Must be called on the channel's event loop;
     * {@code ctx} must have an HTTP response encoder between it and a plain socket. Any request body is ignored:
     * the caller discards it (or, if it will not read it, passes {@code keepAlive = false}).
     *
     * <p>The response says {@code Connection: close} when {@code keepAlive} is false and {@code Connection:
     * keep-alive} to a keep-alive HTTP/1.0 request; closing the connection is up to the caller. If writing fails
     * (the client went away, or a file sent from disk shrank meanwhile) the channel is closed, so a cut response
     * is never taken for a whole one.
     *
     * @return the future of the last write: done when the last byte is handed to the socket, at which point the
     *         caller may read the next request or close
     */
    public ChannelFuture serve(ChannelHandlerContext ctx, HttpRequest request, boolean keepAlive) {
        return serve(ctx, request, keepAlive, null);
    }

    /**
     * {@link #serve(ChannelHandlerContext, HttpRequest, boolean)}, telling {@code sending} (if not {@code null}) as
     * a file sent from disk goes out: how a caller knows that a client still takes it.
     */
    public ChannelFuture serve(ChannelHandlerContext ctx, HttpRequest request, boolean keepAlive,
                               ChannelProgressiveFutureListener sending) {
        ChannelFuture done = respond(ctx, request, keepAlive, true, true, sending);
        return done.addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
    }

    private ChannelFuture respond(ChannelHandlerContext ctx, HttpRequest request, boolean keepAlive, boolean retry,
                                  boolean elsewhere, ChannelProgressiveFutureListener sending) {
        HttpMethod method = request.method();
        boolean head = HttpMethod.HEAD.equals(method);
        if (!head && !HttpMethod.GET.equals(method)) {
            FullHttpResponse response = error(HttpResponseStatus.METHOD_NOT_ALLOWED, false);
            response.headers().set(HttpHeaderNames.ALLOW, ALLOWED_METHODS);
            return send(ctx, response, request, keepAlive);
        }
        String uri = request.uri();
        String relative = matches(uri) ? RequestPath.relative(uri, prefix) : null;
        FileEntry original = relative == null ? null : cache.lookup(release, root, relative);
        if (original == null) {
            StaticFiles holder = elsewhere && fromOtherReleases && relative != null ? otherHolding(relative) : null;
            return holder != null
                    ? holder.respond(ctx, request, keepAlive, retry, false, sending)
                    : send(ctx, error(HttpResponseStatus.NOT_FOUND, head), request, keepAlive);
        }

        HttpHeaders requestHeaders = request.headers();
        // A variant older than the file is left over from an earlier build: the file is what the deploy put there.
        FileEntry file = original;
        String servedPath = relative;
        Precompressed coding = null;
        boolean varies = false;
        String acceptEncoding = requestHeaders.get(HttpHeaderNames.ACCEPT_ENCODING);
        int present = ContentTypes.compressed(original.contentType) ? 0 : cache.variantsNextTo(release, root, relative);
        for (Precompressed p : Precompressed.ALL) {
            if ((present & 1 << p.ordinal()) == 0) {
                continue;
            }
            String variantPath = relative + p.suffix;
            FileEntry variant = cache.lookup(release, root, variantPath);
            if (variant != null && variant.modifiedMillis >= original.modifiedMillis) {
                varies = true;
                if (coding == null && p.acceptedBy(acceptEncoding)) {
                    file = variant;
                    servedPath = variantPath;
                    coding = p;
                }
            }
        }
        String vary = aloneHolding(relative)
                ? (varies ? ACCEPT_ENCODING : null)
                : (varies ? VARY_ENCODING : VARY);
        if (Conditions.preconditionFailed(requestHeaders, file)) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.PRECONDITION_FAILED, Unpooled.EMPTY_BUFFER);
            validators(response.headers(), file, vary);
            response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
            return send(ctx, response, request, keepAlive);
        }
        if (Conditions.notModified(requestHeaders, file)) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.NOT_MODIFIED, Unpooled.EMPTY_BUFFER);
            validators(response.headers(), file, vary);
            return send(ctx, response, request, keepAlive);
        }

        // RFC 9110 14.2: Range is defined for GET only; HEAD describes the whole file.
        String rangeHeader = head ? null : requestHeaders.get(HttpHeaderNames.RANGE);
        String ifRange = requestHeaders.get(HttpHeaderNames.IF_RANGE);
        ByteRange range = rangeHeader == null || (ifRange != null && !Conditions.ifRangeHolds(ifRange, file))
                ? null
                : ByteRange.parse(rangeHeader, file.size);
        if (range == ByteRange.UNSATISFIABLE) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.REQUESTED_RANGE_NOT_SATISFIABLE, Unpooled.EMPTY_BUFFER);
            response.headers()
                    .set(HttpHeaderNames.CONTENT_RANGE, BYTES + " */" + file.size)
                    .set(HttpHeaderNames.ACCEPT_RANGES, BYTES)
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
            return send(ctx, response, request, keepAlive);
        }
        long first = range == null ? 0 : range.first();
        long length = range == null ? file.size : range.length();
        HttpResponseStatus status = range == null ? HttpResponseStatus.OK : HttpResponseStatus.PARTIAL_CONTENT;

        if (head || file.content != null) {
            ByteBuf body = head
                    ? Unpooled.EMPTY_BUFFER
                    : Unpooled.wrappedBuffer(file.content, (int) first, (int) length);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
            representation(response.headers(), original.contentType, coding, file, range, length, vary);
            return send(ctx, response, request, keepAlive);
        }

        FileChannel channel = openUnchanged(file);
        if (channel == null) {
            // Replaced, rewritten or removed since the lookup a moment ago: look again rather than send a mix of
            // two versions. A file that changes under two lookups in a row is being written: not there yet.
            cache.invalidate(release, servedPath);
            return retry ? respond(ctx, request, keepAlive, false, elsewhere, sending)
                    : send(ctx, error(HttpResponseStatus.NOT_FOUND, false), request, keepAlive);
        }
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
        representation(response.headers(), original.contentType, coding, file, range, length, vary);
        connection(response, request, keepAlive);
        // The encoder passes the region through after a head with Content-Length; the transport then sends it
        // straight from the page cache as the socket drains, so memory use does not grow with the file. Releasing
        // the region (once sent, or when the write fails) closes the file.
        ctx.write(response, ctx.voidPromise());
        ctx.write(new DefaultFileRegion(channel, first, length),
                sending == null ? ctx.voidPromise() : ctx.newProgressivePromise().addListener(sending));
        return ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    }

    /**
     * Another release, under the same prefix, whose root has the file this one lacks. A page that one release
     * served names assets that may reach another: the user's page came from blue a moment before a switch to green,
     * or from stable while the canary it is routed to was down, or from the canary before a rollback. Django's
     * fingerprinted names (app.3f2a1b.css) then differ between the releases, and without this each would be a 404;
     * a name both roots have still comes from the user's own release.
     */
    private StaticFiles otherHolding(String relative) {
        for (StaticFiles other : all.values()) {
            if (other != this && other.prefix.equals(prefix)
                    && cache.lookup(other.release, other.root, relative) != null) {
                return other;
            }
        }
        return null;
    }

    /**
     * Whether this release's root is the only one with {@code relative}, so that every user gets this file whatever
     * release they are routed to, and the answer need not vary by what chose the release. That is the rule for
     * Django's fingerprinted names (app.3f2a1b.css), which browsers and CDNs should keep however the user's cookies
     * change: a {@code Vary: Cookie} answer is stored per Cookie header, and analytics cookies change it on every
     * page view. A name more than one root has varies, since the roots may hold different files under it.
     */
    private boolean aloneHolding(String relative) {
        return sameForAllWhenAlone && alone.get(relative, lookUpAlone);
    }

    private Boolean noOtherRootHas(String relative) {
        for (StaticFiles other : all.values()) {
            if (other != this && cache.lookup(other.release, other.root, relative) != null) {
                return false;
            }
        }
        return true;
    }

    /**
     * The file opened for reading if it is still the one it was looked up as, else {@code null}. A deploy that
     * renames a new file over it between the lookup and the open would otherwise have the new bytes go out under
     * the old file's ETag and Last-Modified, and a cache would then keep them under validators that say they are
     * current. Java cannot stat an open file, so the path is stated once it is open: a file renamed over it before
     * the open is seen, and one renamed after is taken as a change too.
     */
    private FileChannel openUnchanged(FileEntry file) {
        FileChannel channel = null;
        try {
            channel = FileChannel.open(file.path);
            if (channel.size() == file.size && file.isCurrent(FileStat.of(file.path))) {
                return channel;
            }
            channel.close();
        } catch (IOException e) {
            log.debug("static file {} of release {}: {}", file.path, release, e.toString());
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // nothing more to do for a file we will not send
                }
            }
        }
        return null;
    }

    /**
     * Headers of a 200 or 206 (or its HEAD): type (the original file's), coding, length, range and validators. A
     * range of a precompressed variant counts its bytes, as RFC 9110 14.1 has it for any content coding.
     */
    private void representation(HttpHeaders headers, String contentType, Precompressed coding, FileEntry file,
                                ByteRange range, long length, String vary) {
        headers.set(HttpHeaderNames.CONTENT_TYPE, contentType)
                .set(HttpHeaderNames.CONTENT_LENGTH, length)
                .set(HttpHeaderNames.ACCEPT_RANGES, BYTES);
        if (coding != null) {
            headers.set(HttpHeaderNames.CONTENT_ENCODING, coding.coding);
        }
        if (range != null) {
            headers.set(HttpHeaderNames.CONTENT_RANGE,
                    BYTES + " " + range.first() + "-" + range.last() + "/" + file.size);
        }
        validators(headers, file, vary);
    }

    /**
     * What a 200, 206 and 304 have in common (RFC 9110 15.4.5: a 304 repeats the validators and caching). Vary
     * (RFC 9110 12.5.5) names what chose the release, and so the file: during a canary one URL may be two files,
     * and a shared cache must not give one release's asset to the other's users; with a precompressed variant,
     * Accept-Encoding chose between the two too. {@code null} when nothing chose (see {@link #aloneHolding}).
     */
    private void validators(HttpHeaders headers, FileEntry file, String vary) {
        headers.set(HttpHeaderNames.ETAG, file.etag)
                .set(HttpHeaderNames.LAST_MODIFIED, file.lastModified);
        if (vary != null) {
            headers.set(HttpHeaderNames.VARY, vary);
        }
        if (!cacheControl.isEmpty()) {
            headers.set(HttpHeaderNames.CACHE_CONTROL, cacheControl);
        }
    }

    /** A small plain-text error; never cached, as the file may appear with the next deploy. */
    private static FullHttpResponse error(HttpResponseStatus status, boolean head) {
        byte[] text = (status.code() + " " + status.reasonPhrase() + "\n").getBytes(StandardCharsets.US_ASCII);
        ByteBuf body = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(text);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, text.length);
        return response;
    }

    private ChannelFuture send(ChannelHandlerContext ctx, FullHttpResponse response, HttpRequest request,
                               boolean keepAlive) {
        connection(response, request, keepAlive);
        return ctx.writeAndFlush(response);
    }

    /** Connection and Date, which every response carries (RFC 9110 6.6.1: an origin with a clock sends Date). */
    private void connection(HttpResponse response, HttpRequest request, boolean keepAlive) {
        HttpHeaders headers = response.headers();
        headers.set(HttpHeaderNames.DATE, HttpDate.value());
        if (servedBy) {
            headers.set(X_SERVED_BY, release);
        }
        if (!keepAlive) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (request.protocolVersion().equals(HttpVersion.HTTP_1_0)) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
    }
}
