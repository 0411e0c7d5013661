package io.canaryproxy.admin;

import io.canaryproxy.ProxyStatus;
import io.canaryproxy.routing.RouteTable;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/** A stand-in for the proxy, so that the admin API's HTTP layer can be tested without a data plane. */
final class FakeProxy implements ProxyControl {

    final Set<String> releases = new LinkedHashSet<>(List.of("blue", "green"));
    final Set<String> unhealthy = ConcurrentHashMap.newKeySet();
    final Map<String, CompletableFuture<ProxyStatus.Release>> drains = new ConcurrentHashMap<>();
    final Map<String, Duration> drainTimeouts = new ConcurrentHashMap<>();
    volatile RouteTable routes = new RouteTable("blue", null, 0, 1, Instant.parse("2025-01-01T00:00:00Z"));
    volatile long blueInflight;

    @Override
    public Set<String> releaseNames() {
        return releases;
    }

    @Override
    public RouteTable routes() {
        return routes;
    }

    @Override
    public synchronized RouteTable switchTo(String release, boolean force) {
        if (!releases.contains(release)) {
            throw new IllegalArgumentException("no release " + release);
        }
        if (unhealthy.contains(release) && !force) {
            throw new IllegalStateException("release " + release + " has no healthy endpoint");
        }
        routes = routes.switchTo(release);
        return routes;
    }

    @Override
    public ProxyStatus status() {
        Map<String, ProxyStatus.Release> map = new LinkedHashMap<>();
        for (String name : releases) {
            map.put(name, release(name, name.equals("blue") ? blueInflight : 0));
        }
        return new ProxyStatus(routes, map);
    }

    static ProxyStatus.Release release(String name, long inflight) {
        long connections = inflight;
        return new ProxyStatus.Release(name,
                List.of(new ProxyStatus.Endpoint("127.0.0.1:" + (name.equals("blue") ? 8001 : 8002), true,
                        connections)),
                inflight, connections, 0);
    }

    @Override
    public CompletableFuture<ProxyStatus.Release> awaitDrained(String release, Duration timeout) {
        if (!releases.contains(release)) {
            throw new IllegalArgumentException("no release " + release);
        }
        drainTimeouts.put(release, timeout);
        return drains.computeIfAbsent(release, r -> new CompletableFuture<>());
    }
}
