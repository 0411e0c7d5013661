package io.canaryproxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The meters of one release, bound once at start so that recording on the hot path is an array index and an
 * adder, never a registry lookup. Names follow Prometheus conventions once exported: {@code canary_proxy_...},
 * base units, {@code _total} for counters.
 */
public final class ReleaseMetrics {

    /**
     * Why a request to an upstream failed: {@code pool-full} is a request that waited {@code connect-timeout} for
     * a connection of an endpoint at {@code max-connections}, {@code refused-no-endpoint} one for a release with no
     * usable endpoint.
     */
    public enum UpstreamError {
        CONNECT, RESET, TIMEOUT, MALFORMED, REFUSED_NO_ENDPOINT, POOL_FULL;

        final String tag = name().toLowerCase().replace('_', '-');
    }

    private final Counter[] byStatusClass = new Counter[6];
    private final Counter[] errors = new Counter[UpstreamError.values().length];
    private final Counter[] aborted = new Counter[ClientStage.values().length];
    private final Counter retries;
    private final Counter buffered;
    private final Counter bufferedBytes;
    private final Timer latency;

    public ReleaseMetrics(MeterRegistry registry, String release) {
        for (int c = 1; c <= 5; c++) {
            byStatusClass[c] = Counter.builder("canary.proxy.requests")
                    .description("Requests answered, by release and status class")
                    .tag("release", release).tag("status", c + "xx")
                    .register(registry);
        }
        for (UpstreamError e : UpstreamError.values()) {
            errors[e.ordinal()] = Counter.builder("canary.proxy.upstream.errors")
                    .description("Upstream failures by kind; the request may still have been answered, after a"
                            + " retry or, for a canary request that reached no canary endpoint, by the stable release")
                    .tag("release", release).tag("kind", e.tag)
                    .register(registry);
        }
        for (ClientStage a : ClientStage.values()) {
            aborted[a.ordinal()] = Counter.builder("canary.proxy.client.aborted")
                    .description("Requests whose client closed the connection before the exchange ended, by where"
                            + " it was: sending its body, waiting for the response, or receiving it")
                    .tag("release", release).tag("stage", a.token())
                    .register(registry);
        }
        retries = Counter.builder("canary.proxy.retries")
                .description("Requests tried again after a failed connect or a dropped connection")
                .tag("release", release)
                .register(registry);
        buffered = Counter.builder("canary.proxy.responses.buffered")
                .description("Responses partly kept on disk because their client took them slower than the"
                        + " endpoint sent them (upstream.max-response-buffer)")
                .tag("release", release)
                .register(registry);
        bufferedBytes = Counter.builder("canary.proxy.response.buffered.bytes")
                .description("Bytes of responses kept on disk for slow clients")
                .baseUnit("bytes")
                .tag("release", release)
                .register(registry);
        latency = Timer.builder("canary.proxy.upstream.latency")
                .description("Time from a request's head to the end of its response from the endpoint (a slow"
                        + " client's download of what the proxy kept for it not included), answers of the proxy's"
                        + " own (such as a 503 for a release without a usable endpoint) included")
                .tag("release", release)
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(60))
                .register(registry);
    }

    /** One response, upstream or proxy-generated, with its status and how long the exchange took. */
    public void response(int status, long nanos) {
        countStatus(status);
        latency.record(nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * A response its client left before the end (an event stream closed, a download cancelled): counted under its
     * status, with no latency, since how long it lasted was the client's choice.
     */
    public void responseCut(int status) {
        countStatus(status);
    }

    private void countStatus(int status) {
        int c = status / 100;
        if (c >= 1 && c <= 5) {
            byStatusClass[c].increment();
        }
    }

    public void error(UpstreamError kind) {
        errors[kind.ordinal()].increment();
    }

    /**
     * The client closed the connection at {@code stage} before its exchange ended. nginx logs these as 499 (those
     * while receiving only when no byte had gone out).
     */
    public void clientAborted(ClientStage stage) {
        aborted[stage.ordinal()].increment();
    }

    public void retry() {
        retries.increment();
    }

    /** A response began to be kept on disk for its client. */
    public void responseBuffered() {
        buffered.increment();
    }

    /** {@code bytes} of a response went through the disk on their way to a slow client. */
    public void responseBufferedBytes(long bytes) {
        bufferedBytes.increment(bytes);
    }
}
