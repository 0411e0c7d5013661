package io.canaryproxy.admin;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.ProxyStatus;
import io.canaryproxy.routing.RouteTable;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * What the admin API needs from the proxy. {@link #of(CanaryProxy)} is the real one; tests give the admin server a
 * fake so that the HTTP layer can be exercised on its own.
 */
interface ProxyControl {

    /** The configured release names, in configuration order. */
    Set<String> releaseNames();

    RouteTable routes();

    /** See {@link CanaryProxy#switchTo(String, boolean)}. */
    RouteTable switchTo(String release, boolean force);

    ProxyStatus status();

    /** See {@link CanaryProxy#awaitDrained(String, Duration)}. */
    CompletableFuture<ProxyStatus.Release> awaitDrained(String release, Duration timeout);

    static ProxyControl of(CanaryProxy proxy) {
        Objects.requireNonNull(proxy, "proxy");
        return new ProxyControl() {
            @Override
            public Set<String> releaseNames() {
                return proxy.config().releases().keySet();
            }

            @Override
            public RouteTable routes() {
                return proxy.routes();
            }

            @Override
            public RouteTable switchTo(String release, boolean force) {
                return proxy.switchTo(release, force);
            }

            @Override
            public ProxyStatus status() {
                return proxy.status();
            }

            @Override
            public CompletableFuture<ProxyStatus.Release> awaitDrained(String release, Duration timeout) {
                return proxy.awaitDrained(release, timeout);
            }
        };
    }
}
