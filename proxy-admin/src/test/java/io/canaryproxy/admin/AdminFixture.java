package io.canaryproxy.admin;

import io.canaryproxy.CanaryProxy;
import io.canaryproxy.config.ProxyConfig;
import io.canaryproxy.testing.Gunicorn;
import io.canaryproxy.testing.TestConfigs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;

/**
 * A real {@link CanaryProxy} and its {@link AdminServer} in front of two real releases, blue and green: gunicorn
 * serving the test Django app of {@code proxy-core/src/test/django} on a local port each. {@code GET /} answers
 * {@code release=NAME} with an {@code X-Release: NAME} header, {@code GET /slow?ms=N} answers after N ms,
 * {@code GET /fail?rate=1} answers 500, and {@code GET /healthz} answers 200, or 503 while a test has made the
 * release {@link #unhealthy unhealthy}. The releases live as long as the fixture (one per test class); the proxy and
 * the admin API are started per test with {@link #start(String)} or {@link #serve} and stopped with {@link #stop()}.
 */
final class AdminFixture implements AutoCloseable {

    /** The bearer token the admin API of {@link #config(String)} asks for. */
    static final String TOKEN = "s3cret";

    private final Path switches;
    private final Gunicorn blue;
    private final Gunicorn green;
    private final RunningAdmin running = new RunningAdmin();

    /** Starts the two releases, at the same time: each takes a second or so to load Django. */
    AdminFixture() {
        try {
            switches = Files.createTempDirectory("admin-fixture");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        blue = release("blue");
        green = release("green");
        try {
            CompletableFuture<Gunicorn> greenStarted = CompletableFuture.supplyAsync(green::start);
            blue.start();
            greenStarted.join();
        } catch (RuntimeException e) {
            close();
            throw e instanceof CompletionException && e.getCause() instanceof RuntimeException cause ? cause : e;
        }
    }

    /**
     * One worker with 8 threads: a test holds at most two {@code /slow} requests in flight on a release (one for as
     * long as 20 s, past the end of its test), which leaves threads for the health checks and everything else; 20 s
     * is well within gunicorn's 60 s worker timeout. No access log: the health checks come every 100 ms.
     */
    private Gunicorn release(String name) {
        return Gunicorn.tcp(name).workers(1).threads(8).accessLog(false)
                .env("UNHEALTHY_WHILE_FILE", unhealthyFile(name).toString());
    }

    private Path unhealthyFile(String release) {
        return switches.resolve(release + ".unhealthy");
    }

    Gunicorn blue() {
        return blue;
    }

    Gunicorn green() {
        return green;
    }

    /**
     * Makes {@code release}'s {@code GET /healthz} answer 503 (or 200 again): the proxy's health checks take its
     * endpoint down within about a second (and bring it back at the next check).
     */
    void unhealthy(String release, boolean unhealthy) {
        Path file = unhealthyFile(release);
        try {
            if (unhealthy) {
                Files.writeString(file, "503\n");
            } else {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Forgets what a test did to the releases: both healthy again. */
    void resetReleases() {
        unhealthy("blue", false);
        unhealthy("green", false);
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
                  releases.blue.endpoints = ["%s"]
                  releases.green.endpoints = ["%s"]
                  routing.stable = blue
                  health-check { interval = 100ms, timeout = 100ms, rise = 2, fall = 10 }
                }
                %s
                """.formatted(TOKEN, blue.endpoint(), green.endpoint(), extra));
    }

    /** Resets the releases, then starts a proxy from {@link #config(String) config(extra)} and its admin API. */
    AdminCalls start(String extra) {
        resetReleases();
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

    /** {@link #stop()}, then stops the releases (at once: a request a test left in flight is not waited for). */
    @Override
    public void close() {
        try {
            stop();
        } finally {
            try {
                blue.close();
            } finally {
                green.close();
                try (Stream<Path> files = Files.walk(switches)) {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException e) {
                    // a temporary directory left behind
                }
            }
        }
    }
}
