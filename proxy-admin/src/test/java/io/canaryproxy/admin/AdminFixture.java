package io.canaryproxy.admin;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.TestConfigs;

/**
 * A real {@link CanaryProxy} and its {@link AdminServer} in front of two WireMock releases, blue and green, that say
 * who answered. The releases live as long as the fixture (one per test class); the proxy and the admin API are
 * started per test with {@link #start(String)} or {@link #serve} and stopped with {@link #stop()}.
 */
final class AdminFixture implements AutoCloseable {

    /** The bearer token the admin API of {@link #config(String)} asks for. */
    static final String TOKEN = "s3cret";

    private final WireMockServer blue = release();
    private final WireMockServer green = release();
    private final RunningAdmin running = new RunningAdmin();

    /** Starts the two releases. */
    AdminFixture() {
        try {
            blue.start();
            green.start();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static WireMockServer release() {
        return new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1").disableRequestJournal());
    }

    WireMockServer blue() {
        return blue;
    }

    WireMockServer green() {
        return green;
    }

    /**
     * Forgets what a test stubbed: each release answers {@code GET /healthz} with 200 "ok" and {@code GET /} with
     * "Hello from NAME" and an {@code X-Release: NAME} header.
     */
    void stubReleases() {
        stubRelease(blue, "blue");
        stubRelease(green, "green");
    }

    private static void stubRelease(WireMockServer release, String name) {
        release.resetAll();
        release.stubFor(WireMock.get(urlEqualTo("/healthz")).willReturn(aResponse().withStatus(200).withBody("ok")));
        release.stubFor(WireMock.get(urlEqualTo("/")).willReturn(aResponse().withStatus(200)
                .withHeader("X-Release", name).withBody("Hello from " + name + "\n")));
    }

    /**
     * Blue stable, green idle, health checks every 100 ms, mutations need {@link #TOKEN}; plus {@code extra}. An
     * endpoint goes down after 10 failed checks, about a second: a shared machine can stall the JVM for a few
     * hundred milliseconds, which must not take a working release down mid-test; the tests that want an endpoint
     * down make it answer 503 and wait up to 5 s.
     */
    ProxyConfig config(String extra) {
        return TestConfigs.parse("""
                proxy {
                  admin.token = "%s"
                  releases.blue.endpoints = ["127.0.0.1:%d"]
                  releases.green.endpoints = ["127.0.0.1:%d"]
                  routing.stable = blue
                  health-check { interval = 100ms, timeout = 100ms, rise = 2, fall = 10 }
                }
                %s
                """.formatted(TOKEN, blue.port(), green.port(), extra));
    }

    /** Stubs the releases afresh, then starts a proxy from {@link #config(String) config(extra)} and its admin API. */
    AdminCalls start(String extra) {
        stubReleases();
        return serve(CanaryProxy.start(config(extra)), null);
    }

    /** Starts the admin API of {@code started}; see {@link RunningAdmin#serve}. */
    AdminCalls serve(CanaryProxy started, ConfigReloader reloader) {
        return running.serve(started, reloader, TOKEN);
    }

    CanaryProxy proxy() {
        return running.proxy();
    }

    AdminServer server() {
        return running.server();
    }

    /** Closes the admin API, then stops the proxy. */
    void stop() {
        running.stop();
    }

    /** {@link #stop()}, then stops the releases. */
    @Override
    public void close() {
        try {
            stop();
        } finally {
            blue.stop();
            green.stop();
        }
    }
}
