package io.canaryproxy.admin;

import io.canaryproxy.CanaryProxy;

/** A proxy a test started and its admin API, both stopped by {@link #stop()} (from {@code @AfterEach}). */
final class RunningAdmin {

    private CanaryProxy proxy;
    private AdminServer server;

    /**
     * Starts the admin API of {@code started}, which {@link #stop()} stops with it.
     *
     * @param reloader what {@code POST /reload} does, or {@code null} for a proxy not started from a file
     * @param token sent by {@link AdminCalls#post(String)}, or {@code null}
     */
    AdminCalls serve(CanaryProxy started, ConfigReloader reloader, String token) {
        proxy = started;
        server = (reloader == null ? new AdminServer(proxy, proxy.config().admin())
                : new AdminServer(proxy, proxy.config().admin(), reloader)).start();
        return new AdminCalls(server, proxy, token);
    }

    CanaryProxy proxy() {
        return proxy;
    }

    AdminServer server() {
        return server;
    }

    /** Closes the admin API, then stops the proxy. */
    void stop() {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            server = null;
            if (proxy != null) {
                proxy.stop();
            }
            proxy = null;
        }
    }
}
