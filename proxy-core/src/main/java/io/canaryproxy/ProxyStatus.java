package io.canaryproxy;

import io.canaryproxy.analysis.Analysis;
import io.canaryproxy.routing.RouteTable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A point-in-time view of the proxy, for the admin API and for tests.
 *
 * @param routes   the route table in force
 * @param releases release name to its state, in configuration order
 * @param analysis the automated canary analysis: its state, step and the history of its checks
 */
public record ProxyStatus(RouteTable routes, Map<String, Release> releases, Analysis.Status analysis) {

    public ProxyStatus {
        releases = Collections.unmodifiableMap(new LinkedHashMap<>(releases));
    }

    /**
     * @param inflight    requests of this release not yet answered completely
     * @param connections open upstream connections (pooled, busy and upgraded) to this release's endpoints
     * @param upgraded    of those, tunnels carrying an upgraded protocol such as WebSocket
     * @param routed      whether the route table sends users here: the stable release, or the canary above 0 %
     */
    public record Release(String name, List<Endpoint> endpoints, long inflight, long connections, long upgraded,
                          boolean routed) {

        /**
         * Routed nowhere, no request in flight and no connection open: the release's processes can be stopped. A
         * routed release is never drained, however idle it is at the moment: its next user may come any time.
         */
        public boolean drained() {
            return !routed && inflight == 0 && connections == 0;
        }
    }

    /**
     * One endpoint: its address as configured, its health and its open connections.
     *
     * @param removed whether a reload took it out of the release: it is listed while connections to it are open
     *                (requests that began before the reload), with its health as last checked, so that a deploy
     *                script can tell when the process behind it may be stopped
     * @param problem why it is not healthy ({@code "health check: GET /healthz answered 500"}, {@code "ejected
     *                after 3 connect failures in a row (…)…"}); {@code null} while it is
     */
    public record Endpoint(String address, boolean healthy, long connections, boolean removed, String problem) {
    }
}
