package io.canaryproxy.listener;

import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.metrics.ClientMetrics;
import io.canaryproxy.routing.RouteState;
import io.canaryproxy.routing.Router;
import io.canaryproxy.staticfiles.StaticFiles;
import io.netty.channel.EventLoop;
import io.netty.channel.group.ChannelGroup;
import java.util.IdentityHashMap;
import java.util.Map;

/** What every client connection of one listener shares; immutable, replaced as a whole by a reload. */
final class ListenerContext {

    final RouteState routes;
    final ClientMetrics clientMetrics;
    final Router router;
    /** {@code ; Path=/; Max-Age=...; HttpOnly; SameSite=Lax}: the fixed tail of the bucket cookie. */
    final String bucketCookieAttributes;
    final String bucketCookiePrefix;
    final boolean servedByHeader;
    /** Whether testers may pin requests ({@code routing.overrides}): only then is {@code X-Canary} looked up. */
    final boolean overrides;
    /** Release name to the static files the proxy serves for it; built per configuration, with its own cache. */
    final Map<String, StaticFiles> staticFiles;
    final ChannelGroup clients;
    final TrustedProxies trustedProxies;
    final long maxBodySize;
    final long headerReadTimeoutNanos;
    final long clientIdleTimeoutNanos;
    final long responseTimeoutNanos;
    final long drainTimeoutNanos;
    final int maxRetries;
    final int maxInitialLine;
    final int maxHeaderSize;
    /**
     * Body bytes kept in memory: so that an idempotent request can be sent again after a stale keep-alive
     * connection, and of a chunked body before it goes to a {@link BodySpool} in {@link #bodyTempDir}.
     */
    final int replayLimit = 64 * 1024;
    final java.nio.file.Path bodyTempDir;
    /** Bytes of one response kept on disk for a slow client ({@link ResponseBuffer}); 0 for none. */
    final long maxResponseBuffer;
    private final Map<EventLoop, Integer> loopIndex;

    ListenerContext(ProxyConfig config, RouteState routes, Router router, ChannelGroup clients, EventLoop[] loops,
                    ClientMetrics clientMetrics) {
        this.clientMetrics = clientMetrics;
        this.routes = routes;
        this.router = router;
        this.bucketCookiePrefix = config.routing().stickyCookieName() + "=";
        this.bucketCookieAttributes = "; Path=/; Max-Age=" + config.routing().stickyCookieMaxAge().toSeconds()
                + "; HttpOnly; SameSite=Lax";
        this.servedByHeader = config.routing().servedByHeader();
        this.overrides = config.routing().overrides();
        this.staticFiles = StaticFiles.forReleases(config.releases().values(), config.staticFiles(),
                config.routing().servedByHeader());
        this.clients = clients;
        this.trustedProxies = new TrustedProxies(config.trustedProxies());
        this.maxBodySize = config.limits().maxBodySize();
        this.headerReadTimeoutNanos = config.limits().headerReadTimeout().toNanos();
        this.clientIdleTimeoutNanos = config.limits().clientIdleTimeout().toNanos();
        this.responseTimeoutNanos = config.upstream().responseTimeout().toNanos();
        this.drainTimeoutNanos = config.drain().timeout().toNanos();
        this.maxRetries = config.upstream().maxRetries();
        this.maxInitialLine = config.limits().maxInitialLine();
        this.maxHeaderSize = config.limits().maxHeaderSize();
        this.bodyTempDir = config.limits().bodyTempDir();
        this.maxResponseBuffer = config.upstream().maxResponseBuffer();
        Map<EventLoop, Integer> index = new IdentityHashMap<>();
        for (int i = 0; i < loops.length; i++) {
            index.put(loops[i], i);
        }
        this.loopIndex = index;
    }

    int loopIndex(EventLoop loop) {
        return loopIndex.get(loop);
    }
}
