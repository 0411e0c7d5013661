package io.canaryproxy.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigUtil;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The whole, validated configuration of one proxy instance. Immutable; a reload builds a new one.
 *
 * <p>Obtain one with {@link ConfigLoader}: {@code ConfigLoader.load(Path.of("conf/canary-proxy.conf"))}.
 *
 * @param listen         the public listener address ({@code proxy.listen})
 * @param threads        event-loop threads, already resolved: never 0 ({@code proxy.threads}, 0 = one per core)
 * @param transport      the I/O transport asked for ({@code proxy.transport})
 * @param trustedProxies client addresses whose {@code X-Forwarded-*} headers are kept ({@code proxy.trusted-proxies})
 * @param admin          the admin listener
 * @param stateFile      where the route table is persisted, or {@code null} when persistence is off
 * @param releases       release name to release, in the order the file declares them
 * @param routing        the initial route table and routing options
 * @param source         the raw, resolved {@code proxy} subtree, for modules that read their own keys
 * @param staticFiles    how releases' static files are served and cached ({@code proxy.static-files})
 * @param analysis       how an automated canary run steps and judges ({@code proxy.analysis})
 */
public record ProxyConfig(
        HostPort listen,
        int threads,
        TransportChoice transport,
        List<String> trustedProxies,
        AdminConfig admin,
        Path stateFile,
        Map<String, ReleaseConfig> releases,
        RoutingConfig routing,
        HealthCheckConfig healthCheck,
        UpstreamConfig upstream,
        LimitsConfig limits,
        DrainConfig drain,
        Config source,
        StaticFilesSettings staticFiles,
        AnalysisConfig analysis) {

    public ProxyConfig {
        trustedProxies = List.copyOf(trustedProxies);
        releases = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(releases));
    }

    /** The release of that name, or {@code null}. */
    public ReleaseConfig release(String name) {
        return releases.get(name);
    }

    /**
     * What is valid but most likely a mistake, one line each, for the operator to see at start and on reload:
     * an endpoint listed by two releases (a switch between them changes nothing there, and an analysis would
     * judge the app against itself). {@code localhost} counts as {@code 127.0.0.1}, and a socket path is compared
     * with its {@code .} and {@code ..} resolved; names are not looked up.
     */
    public List<String> warnings() {
        List<String> warnings = new ArrayList<>();
        Map<String, Map.Entry<String, EndpointAddress>> firstListed = new HashMap<>();
        for (ReleaseConfig release : releases.values()) {
            for (EndpointAddress endpoint : release.endpoints()) {
                Map.Entry<String, EndpointAddress> other = firstListed.putIfAbsent(sameProcesses(endpoint),
                        Map.entry(release.name(), endpoint));
                if (other == null) {
                    continue;
                }
                String key = ConfigUtil.joinPath("proxy", "releases", release.name(), "endpoints");
                if (other.getKey().equals(release.name())) {
                    // Written the same way twice is refused; written two ways, it gets twice its share.
                    warnings.add(key + ": " + endpoint + " and " + other.getValue() + " are the same processes,"
                            + " which get twice their share of the release's requests");
                } else {
                    boolean asWritten = other.getValue().toString().equals(endpoint.toString());
                    warnings.add(key + ": " + endpoint + " is also an endpoint of release " + other.getKey()
                            + (asWritten ? "" : " (as " + other.getValue() + ")")
                            + ": both releases send requests to the same processes there");
                }
            }
        }
        return warnings;
    }

    /** What two endpoints share when they reach the same processes, as far as can be told without a lookup. */
    private static String sameProcesses(EndpointAddress endpoint) {
        if (endpoint.isUnix()) {
            return "unix:" + endpoint.unixPath().normalize();
        }
        String host = endpoint.tcp().host().toLowerCase(Locale.ROOT);
        return (host.equals("localhost") ? "127.0.0.1" : host) + ":" + endpoint.tcp().port();
    }
}
