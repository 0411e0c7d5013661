package io.canaryproxy.analysis;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.canaryproxy.config.AnalysisConfig;
import io.canaryproxy.internal.IoFailures;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Posts analysis events as JSON to the configured webhooks. Events are sent asynchronously and never block the
 * data plane or the analysis; failures and timeouts are logged. The pre-rollout gate is the one synchronous call:
 * a non-2xx answer, a failure or a timeout stops the run from starting.
 */
public final class Webhooks {

    private static final Logger log = LoggerFactory.getLogger(Webhooks.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<AnalysisConfig.Webhook> hooks;
    private final HttpClient client;

    public Webhooks(List<AnalysisConfig.Webhook> hooks, Executor executor) {
        this.hooks = hooks;
        // HTTP/1.1: Java's client would ask every http:// receiver to switch to HTTP/2 (Upgrade: h2c), which a
        // small receiver behind a proxy or a WSGI server does not expect in a POST.
        this.client = hooks.isEmpty() ? null : HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(executor).connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** {@code null} when every pre-rollout webhook agreed, otherwise why not. */
    String preRollout(String release) {
        for (AnalysisConfig.Webhook hook : hooks) {
            if (!wants(hook, "pre-rollout")) {
                continue;
            }
            try {
                HttpResponse<String> r = client.send(request(hook, event("pre-rollout", release, 0, 0, null, null)),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() / 100 != 2) {
                    return hook.name() + " answered " + r.statusCode()
                            + (r.body().isBlank() ? "" : ": " + r.body().strip());
                }
            } catch (Exception e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                return hook.name() + " failed: " + describe(e, hook);
            }
        }
        return null;
    }

    void send(String type, String release, int step, double weight, Check check) {
        send(type, release, step, weight, check, null);
    }

    /** The same with the reason an operator's action gave, as {@code "reason"}; {@code null} for none. */
    void send(String type, String release, int step, double weight, Check check, String reason) {
        for (AnalysisConfig.Webhook hook : hooks) {
            if (!wants(hook, type)) {
                continue;
            }
            client.sendAsync(request(hook, event(type, release, step, weight, check, reason)),
                            HttpResponse.BodyHandlers.discarding())
                    .whenComplete((r, e) -> {
                        if (e != null) {
                            log.warn("webhook {} ({}) failed: {}", hook.name(), type, describe(e, hook));
                        } else if (r.statusCode() / 100 != 2) {
                            log.warn("webhook {} ({}) answered {}", hook.name(), type, r.statusCode());
                        }
                    });
        }
    }

    /**
     * A failed call as an operator reads it. The JDK's client wraps its causes and often leaves them without a
     * message: a refused connection is a bare {@code ConnectException}. The URL is not shown, as chat webhooks
     * carry their secret in it.
     */
    static String describe(Throwable e, AnalysisConfig.Webhook hook) {
        Throwable t = e;
        while (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof HttpConnectTimeoutException) {
            return "connect timed out";
        }
        if (t instanceof HttpTimeoutException) {
            return "no answer within " + hook.timeout().toMillis() + " ms";
        }
        if (t instanceof ConnectException) {
            // send() wraps the ConnectException of sendAsync() in another: the cause may be two levels down.
            String detail = null;
            Throwable c = t;
            for (int depth = 0; c != null && depth < 8; depth++, c = c.getCause()) {
                if (c instanceof UnresolvedAddressException) {
                    return "cannot resolve the host " + hook.url().getHost();
                }
                if (detail == null && c.getMessage() != null && !c.getMessage().isBlank()) {
                    detail = c.getMessage();
                }
            }
            return "cannot connect to " + hook.url().getHost() + ":" + port(hook.url())
                    + (detail == null ? "" : " (" + detail + ")");
        }
        if (t instanceof InterruptedException) {
            return "interrupted";
        }
        return IoFailures.describe(t);
    }

    private static int port(URI url) {
        return url.getPort() != -1 ? url.getPort() : "https".equalsIgnoreCase(url.getScheme()) ? 443 : 80;
    }

    private static boolean wants(AnalysisConfig.Webhook hook, String type) {
        return hook.events().isEmpty() || hook.events().contains(type);
    }

    private static HttpRequest request(AnalysisConfig.Webhook hook, String body) {
        return HttpRequest.newBuilder(hook.url()).timeout(hook.timeout())
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static String event(String type, String release, int step, double weight, Check check, String reason) {
        ObjectNode n = JSON.createObjectNode();
        n.put("event", type);
        n.put("release", release);
        n.put("step", step);
        n.put("weight", weight);
        n.put("at", Instant.now().toString());
        if (reason != null) {
            n.put("reason", reason);
        }
        if (check != null) {
            n.set("check", JSON.valueToTree(check.toMap()));
        }
        return n.toString();
    }
}
