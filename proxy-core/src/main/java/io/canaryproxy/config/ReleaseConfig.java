package io.canaryproxy.config;

import java.util.List;

/**
 * One deployed version of the application: a name and the endpoints that serve it.
 *
 * @param staticFiles files the proxy serves itself for users routed to this release, or {@code null}
 */
public record ReleaseConfig(String name, List<EndpointAddress> endpoints, StaticFilesConfig staticFiles) {

    public ReleaseConfig {
        endpoints = List.copyOf(endpoints);
    }
}
